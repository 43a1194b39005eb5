//! A rollout in one cluster: render, register, update each service once (or create it from its
//! service definition when it is missing), then wait with a deadline until our deployment is the
//! only one, complete, and running what it should. A deployment that failed, was rolled back by
//! the circuit breaker, crash-loops or runs out of time is a failure: the service goes back to its
//! previous task definition (unless ECS did that already), and the failure says why, with the
//! service's last events. Never a rolled-back deployment as success.
//!
//! Once an UpdateService (or CreateService) went through, the rollout is always finished: no error
//! on the way (a poll refused, a rollback refused) ends it early; each one is reported with the
//! result of its service, and the others go on.
//!
//! `rollout_timeout` bounds the wait for the deployments, from the updates on, polls that never
//! answer included: a poll is cut at that deadline, and the rollback (its UpdateService, the wait
//! for it and the last events) gets at most one call deadline (`SHIPIT_HTTP_TIMEOUT`) past it. The
//! calls before (each with its own call deadline) change nothing, except an UpdateService whose
//! answer was lost: when ECS cannot say whether it went through, it is watched and rolled back as
//! if it had.
//!
//! Where ECS has service deployments (the UpdateService answer names one), the rollout is judged
//! by it: SUCCESSFUL is done, ROLLBACK_* and STOPPED are failures that say why (the alarms that
//! fired, the circuit breaker's count), a PAUSE hook is its own outcome, bake time is waiting, and
//! shipit's own rollback is StopServiceDeployment with ROLLBACK, never a second UpdateService.
//!
//! The calls: DescribeServices (ten services a call), DescribeTaskDefinition (with tags),
//! RegisterTaskDefinition, one UpdateService (or CreateService) per service, then polls: one
//! DescribeServices, and DescribeServiceDeployments (twenty a call) where ECS has them.
//!
//! The steps: `prepare` (render, register, update or create), `wait` (poll and judge), `undo`
//! (roll back, confirm, collect the last events).

mod prepare;
#[cfg(test)]
mod tests;
mod undo;
mod wait;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use semver::Version;
use serde::Serialize;

use super::deployment::{self, Paused};
use super::{Ecs, EcsError, Target};
use prepare::Prepared;
use undo::timed_out;

/// A file kept in the repository: its repository-relative path and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// One container's new image, for one service of ci.toml.
#[derive(Debug, Clone)]
pub struct Change {
    /// The service of ci.toml.
    pub service: String,
    pub container: String,
    pub image: crate::image::ImageRef,
    /// The version being rolled out, for the downgrade guard.
    pub version: Option<Version>,
    /// This environment's versions by digest, for the downgrade guard when the running revision
    /// is pinned to a digest (it names no version tag).
    pub known: std::collections::BTreeMap<String, Version>,
}

/// One ECS service to roll out in one cluster: one render with every new image in it.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub target: Target,
    pub changes: Vec<Change>,
    /// Containers of other services of ci.toml in the same task, not rolled out now: a render from
    /// a file gives them the image they run.
    pub keep: Vec<String>,
    /// The environment (tag prefix), for the downgrade guard.
    pub environment: String,
    /// A task definition file to render from instead of the live task definition.
    pub file: Option<SourceFile>,
    /// The CreateService request to create the service with when it is missing.
    pub service_definition: Option<SourceFile>,
    /// Roll out even a version lower than the one running.
    pub force: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub timeout: Duration,
    pub poll: Duration,
    /// Tasks of the new deployment that may stop before it counts as crash-looping.
    pub max_failed_tasks: i32,
    /// A native (blue/green, linear, canary) deployment is done for shipit once production
    /// traffic has shifted; ECS goes on baking it after shipit exits (`rollout_wait`).
    pub wait_shifted: bool,
}

/// How one rollout ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Ended {
    /// The new task definition runs, alone and complete.
    Done { task_definition: String, polls: u32 },
    /// The service already ran this image: nothing registered, nothing updated.
    AlreadyRunning { task_definition: String },
    /// A native deployment's production traffic is on the new task definition; ECS bakes it on
    /// (and may still roll it back) after shipit stops watching (`rollout_wait = "traffic-shifted"`).
    Shifted {
        task_definition: String,
        polls: u32,
        service_deployment: String,
    },
    /// The deployment waits at a PAUSE lifecycle hook for `shipit deploy --continue` or
    /// `--rollback`: not done, not failed, not rolled back.
    Paused {
        task_definition: String,
        paused: Paused,
    },
    /// Not done: why, the service's last events, and where it was left.
    Failed {
        why: String,
        events: Vec<String>,
        rollback: Rollback,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollback {
    /// Nothing was changed (the failure came before UpdateService).
    NotNeeded,
    /// ECS put the previous revision back itself (its circuit breaker, an alarm, a hook).
    ByEcs,
    /// The deployment was stopped (StopServiceDeployment with ABORT, by someone else) where it
    /// stood: ECS rolled nothing back.
    Stopped,
    /// shipit put the previous task definition back and it runs again.
    Done { task_definition: String },
    /// shipit tried, and the previous task definition did not come back either.
    Failed { why: String },
    /// This rollout created the service: there is no previous task definition to go back to.
    Created,
}

/// One poll of one cluster, for the progress lines.
#[derive(Debug, Clone)]
pub struct Progress {
    pub cluster: String,
    /// The ECS services still waited for, with where they stand.
    pub services: Vec<(String, String)>,
}

impl Progress {
    /// `cluster: api 0/1 running, 1 pending, 0 failed · newest event`, services joined by `; `.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .services
            .iter()
            .map(|(s, state)| format!("{s} {state}"))
            .collect();
        format!("{}: {}", self.cluster, parts.join("; "))
    }
}

/// Where progress goes.
pub type Report<'a> = &'a (dyn Fn(Progress) + Send + Sync);

impl Ended {
    pub fn is_success(&self) -> bool {
        !matches!(self, Ended::Failed { .. } | Ended::Paused { .. })
    }

    /// True when this rollout changed what the service runs (or tried to, and went back).
    pub fn started(&self) -> bool {
        match self {
            Ended::Done { .. } | Ended::Shifted { .. } | Ended::Paused { .. } => true,
            Ended::AlreadyRunning { .. } => false,
            Ended::Failed { rollback, .. } => *rollback != Rollback::NotNeeded,
        }
    }

    fn failed(why: String) -> Ended {
        Ended::Failed {
            why,
            events: Vec::new(),
            rollback: Rollback::NotNeeded,
        }
    }
}

/// Where a service stands after one poll.
#[derive(Debug, PartialEq, Eq)]
enum Poll {
    Waiting,
    Done,
    /// Production traffic shifted, and that is enough (`rollout_wait = "traffic-shifted"`).
    Shifted,
    Failed(String),
    RolledBackByEcs(String),
    /// ECS tried to roll back and could not.
    EcsRollbackFailed(String),
    /// Stopped by someone else, without a rollback.
    Stopped(String),
    Paused(Paused),
}

fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What a prepared service waits for.
struct Pending {
    deploy: Deploy,
    /// The task definition before ours; none when this rollout created the service.
    previous: Option<String>,
    ours: String,
    polls: u32,
    /// The service deployment our UpdateService (or CreateService) started, where ECS has them.
    deployment: Option<String>,
    /// This is the wait for a rollback shipit asked for through `deployment`.
    undo: bool,
}

/// A service whose deployments another controller runs (CodeDeploy, an external one) is not
/// rolled out through UpdateService: refused before anything is registered.
fn refuse_controllers(described: &super::Described) -> Result<(), EcsError> {
    for (target, service) in &described.services {
        let controller = service
            .deployment_controller()
            .map(|c| c.r#type().as_str())
            .unwrap_or("ECS");
        if controller != "ECS" {
            return Err(EcsError::Controller {
                target: target.clone(),
                controller: controller.to_string(),
            });
        }
    }
    Ok(())
}

impl Ecs {
    /// Rolls several ECS services out in one cluster; one result per deploy, in order. An error
    /// is returned only when nothing was changed (the first DescribeServices failed); after that,
    /// every error is a result of its service.
    pub async fn rollout(
        &self,
        cluster: &str,
        deploys: Vec<Deploy>,
        settings: Settings,
        report: Report<'_>,
    ) -> Result<Vec<(Target, Ended)>, EcsError> {
        let targets: Vec<Target> = deploys.iter().map(|d| d.target.clone()).collect();
        let described = self.describe(&targets).await?;
        refuse_controllers(&described)?;
        for d in &deploys {
            if let Some(service) = described.services.get(&d.target) {
                self.refuse_firing(&d.target, service, d.force).await?;
            }
        }
        let mut ended: BTreeMap<Target, Ended> = BTreeMap::new();
        let mut pending = self.start(deploys, &described, &mut ended).await;
        // The deadline of the deployments, from the updates on.
        let deadline = Instant::now() + settings.timeout;
        let (outcomes, last_error) = self
            .wait(cluster, &mut pending, settings, deadline, report)
            .await;
        self.finish(
            cluster, &pending, outcomes, last_error, deadline, settings, report, &mut ended,
        )
        .await;
        Ok(targets
            .into_iter()
            .map(|t| {
                let e = ended
                    .remove(&t)
                    .unwrap_or_else(|| Ended::failed("no result (listed twice?)".into()));
                (t, e)
            })
            .collect())
    }

    /// `shipit deploy --continue` / `--rollback`: the deployment of `target` paused at a PAUSE
    /// hook goes on (or back) through ContinueServiceDeployment, and is watched to its end as a
    /// rollout is: confirmed, or (on shipit's timeout) rolled back with StopServiceDeployment.
    /// After `--rollback`, the previous revision running again is the success.
    pub async fn resume_hook(
        &self,
        target: &Target,
        action: aws_sdk_ecs::types::DeploymentLifecycleHookAction,
        settings: Settings,
        report: Report<'_>,
    ) -> Result<Ended, deployment::DeploymentError> {
        use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
        let paused = self.paused(target).await?;
        let described = self.describe(std::slice::from_ref(target)).await?;
        let service = described.services.get(target);
        let ours = service
            .and_then(|s| s.task_definition())
            .unwrap_or_default()
            .to_string();
        // The revision the deployment replaces: the other deployment still running.
        let previous = service.and_then(|s| {
            s.deployments()
                .iter()
                .filter_map(|d| d.task_definition())
                .find(|td| *td != ours)
                .map(str::to_string)
        });
        self.resume(&paused, action.clone()).await?;
        let back = action == Action::Rollback;
        let mut pending = vec![Pending {
            deploy: Deploy {
                target: target.clone(),
                changes: Vec::new(),
                keep: Vec::new(),
                environment: String::new(),
                file: None,
                service_definition: None,
                force: false,
            },
            previous: previous.clone(),
            ours: ours.clone(),
            polls: 0,
            deployment: Some(paused.service_deployment.clone()),
            undo: back,
        }];
        let deadline = Instant::now() + settings.timeout;
        let (mut outcomes, last_error) = self
            .wait(&target.cluster, &mut pending, settings, deadline, report)
            .await;
        let outcome = outcomes.pop().unwrap_or(Poll::Waiting);
        if back {
            return Ok(match outcome {
                Poll::Done => Ended::Done {
                    task_definition: previous.unwrap_or(ours),
                    polls: pending[0].polls,
                },
                Poll::Waiting => Ended::failed(timed_out(settings, last_error.as_deref())),
                Poll::Failed(why) => Ended::failed(why),
                other => Ended::failed(format!("the rollback did not finish: {other:?}")),
            });
        }
        let mut ended = BTreeMap::new();
        self.finish(
            &target.cluster,
            &pending,
            vec![outcome],
            last_error,
            deadline,
            settings,
            report,
            &mut ended,
        )
        .await;
        Ok(ended
            .remove(target)
            .unwrap_or_else(|| Ended::failed("no result".into())))
    }

    /// Prepares every deploy (render, register, update or create); what is under way, and the
    /// results of the others in `ended`.
    async fn start(
        &self,
        deploys: Vec<Deploy>,
        described: &super::Described,
        ended: &mut BTreeMap<Target, Ended>,
    ) -> Vec<Pending> {
        let mut pending = Vec::new();
        for deploy in deploys {
            let service = described.services.get(&deploy.target);
            match self.prepare(&deploy, service).await {
                Ok(Prepared::Updated {
                    previous,
                    ours,
                    deployment,
                }) => pending.push(Pending {
                    deploy,
                    previous,
                    ours,
                    polls: 0,
                    deployment,
                    undo: false,
                }),
                Ok(Prepared::AlreadyRunning(td)) => {
                    ended.insert(
                        deploy.target.clone(),
                        Ended::AlreadyRunning {
                            task_definition: td,
                        },
                    );
                }
                Err(why) => {
                    ended.insert(deploy.target.clone(), Ended::failed(why.to_string()));
                }
            }
        }
        pending
    }
}

/// The answer of `call`, or `None` when `deadline` passed first (the call is then dropped).
async fn by<T>(deadline: Instant, call: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at(deadline.into(), call).await.ok()
}

/// Whole seconds, rounded up (a deadline of 1.2s is said as 2s, never 1s).
fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
