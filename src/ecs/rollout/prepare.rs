//! Before the wait: render, register and update (or create) one ECS service, or say why not
//! having changed nothing. A native deployment still under way is never started on top of.

use aws_sdk_ecs::types::Service;
use semver::Version;

use super::super::deployment;
use super::super::render::{Rendered, service_definition};
use super::super::{Ecs, EcsError, Target, classify};
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
fn running_version(image: &str, environment: &str) -> Option<Version> {
    let tag = crate::image::parse(image).tag?;
    crate::version::parse_tag(environment, &tag)
}

/// RegisterTaskDefinition refused a render: ECS's message, with the file (or the live revision)
/// and the services of ci.toml.
fn register_refused(deploy: &Deploy, previous: &str, e: EcsError) -> String {
    let from = match &deploy.file {
        Some(f) => format!("the task definition {}", f.path),
        None => format!("the task definition rendered from {}", short_td(previous)),
    };
    let services: Vec<&str> = deploy.changes.iter().map(|c| c.service.as_str()).collect();
    format!("{e} ({from}, service {})", services.join(", "))
}

impl Ecs {
    /// Renders, registers and updates (or creates) one ECS service; or says why not, having
    /// changed nothing.
    pub(super) async fn prepare(
        &self,
        deploy: &Deploy,
        service: Option<&Service>,
    ) -> Result<Prepared, String> {
        let file = match &deploy.file {
            Some(f) => Some(
                Rendered::from_file(&f.text)
                    .map_err(|why| format!("the task definition {}: {why}", f.path))?,
            ),
            None => None,
        };
        let Some(service) = service else {
            return self.create(deploy, file).await;
        };
        if let Some(why) = deployment::busy(&deploy.target, service) {
            return Err(why);
        }
        let Some(previous) = service.task_definition().map(str::to_string) else {
            return Err(format!(
                "the service {} has no task definition",
                deploy.target
            ));
        };
        let live = self
            .describe_task_definition(&previous)
            .await
            .map_err(|e| e.to_string())?;
        for c in &deploy.changes {
            if let (Some(new), Some(running)) = (
                &c.version,
                live.image_of(&c.container)
                    .and_then(|i| running_version(i, &deploy.environment)),
            ) && *new < running
                && !deploy.force
            {
                return Err(format!(
                    "{} runs {running}, which is higher than {new}: refusing to go back (use `shipit deploy --force` to roll back on purpose)",
                    deploy.target
                ));
            }
        }
        if file.is_none() {
            for c in &deploy.changes {
                live.has_container(&c.container)?;
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
                rendered = rendered.keep_image(k, image)?;
            }
        }
        for c in &deploy.changes {
            rendered = rendered.set_image(&c.container, &c.image)?;
        }
        let ours = self
            .register(&rendered)
            .await
            .map_err(|e| register_refused(deploy, &previous, e))?;
        let updated = self
            .client
            .update_service()
            .cluster(&deploy.target.cluster)
            .service(&deploy.target.service)
            .task_definition(&ours)
            .send()
            .await;
        let deployment = match updated {
            Ok(answer) => answer
                .service()
                .and_then(|s| s.current_service_deployment())
                .map(str::to_string),
            Err(e) => {
                let why = classify("UpdateService", e).to_string();
                // An answer lost on the way (a timeout) may hide an update that went through: look
                // before calling it not started. When ECS does not say either, the update is
                // watched (and rolled back) as if it had gone through.
                if self.runs(&deploy.target, &ours).await == Some(false) {
                    return Err(why);
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
    async fn create(&self, deploy: &Deploy, file: Option<Rendered>) -> Result<Prepared, String> {
        let target = &deploy.target;
        let Some(definition) = &deploy.service_definition else {
            return Err(format!(
                "the service {target} does not exist (DescribeServices reports it MISSING): add `service_definition` (a CreateService request, kept in the repository) to the service in ci.toml, and shipit creates the ECS service `{}` in the cluster `{}` on its first rollout (shipit never creates clusters)",
                target.service, target.cluster
            ));
        };
        let Some(mut rendered) = file else {
            return Err(format!(
                "the service {target} does not exist, and there is no task definition to create it with: set `task_definition` (a RegisterTaskDefinition request, kept in the repository) beside `service_definition`"
            ));
        };
        let body = service_definition(&definition.text)
            .map_err(|why| format!("the service definition {}: {why}", definition.path))?;
        if let Some(name) = body.get("serviceName").and_then(|v| v.as_str())
            && name != target.service
        {
            return Err(format!(
                "the service definition {} names the service `{name}`, but ci.toml rolls out `{}`: make them the same (or drop `serviceName`)",
                definition.path, target.service
            ));
        }
        for c in &deploy.changes {
            rendered = rendered.set_image(&c.container, &c.image)?;
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
            Err(e) => {
                return Err({
                    let text = e.to_string();
                    if text.contains("ClusterNotFound") || text.contains("Cluster not found") {
                        format!(
                            "{text}: the cluster `{}` does not exist (shipit never creates clusters: that is the infrastructure's job)",
                            target.cluster
                        )
                    } else {
                        format!("creating {target} from {}: {text}", definition.path)
                    }
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
