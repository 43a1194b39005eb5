//! A rollout in one cluster: render, register, update each service once, then wait with a deadline
//! until our deployment is the only one, complete, and running what it should. A deployment that
//! failed, was rolled back by the circuit breaker, crash-loops or runs out of time is a failure:
//! the service goes back to its previous task definition (unless ECS did that already), and the
//! failure says why, with the service's last events. Never a rolled-back deployment as success.
//!
//! The calls: DescribeServices (ten services a call), DescribeTaskDefinition (with tags),
//! RegisterTaskDefinition, one UpdateService per service, then DescribeServices polls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Service, TaskDefinitionField};
use semver::Version;
use serde::Serialize;

use super::render::Rendered;
use super::{Ecs, EcsError, Target, classify};

/// One service to roll out in one cluster.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub target: Target,
    pub container: String,
    pub image: String,
    /// The environment (tag prefix) and the version being rolled out, for the downgrade guard.
    pub environment: String,
    pub version: Option<Version>,
    /// A task definition file's text to render from instead of the live task definition.
    pub file: Option<String>,
    /// Roll out even a version lower than the one running.
    pub force: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub timeout: Duration,
    pub poll: Duration,
    /// Tasks of the new deployment that may stop before it counts as crash-looping.
    pub max_failed_tasks: i32,
}

/// How one rollout ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Ended {
    /// The new task definition runs, alone and complete.
    Done { task_definition: String, polls: u32 },
    /// The service already ran this image: nothing registered, nothing updated.
    AlreadyRunning { task_definition: String },
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
    /// ECS's circuit breaker put the previous task definition back.
    ByEcs,
    /// shipit put the previous task definition back and it runs again.
    Done { task_definition: String },
    /// shipit tried, and the previous task definition did not come back either.
    Failed { why: String },
}

impl Ended {
    pub fn is_success(&self) -> bool {
        !matches!(self, Ended::Failed { .. })
    }
}

/// Where a service stands after one poll.
#[derive(Debug, PartialEq, Eq)]
enum Poll {
    Waiting,
    Done,
    Failed(String),
    RolledBackByEcs(String),
}

/// Judges one DescribeServices answer for the deployment of `ours`.
fn judge(service: &Service, ours: &str, max_failed_tasks: i32) -> Poll {
    let deployments = service.deployments();
    let Some(mine) = deployments
        .iter()
        .find(|d| d.task_definition() == Some(ours))
    else {
        let primary = deployments
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.task_definition());
        return Poll::RolledBackByEcs(format!(
            "the deployment of {} is gone and {} is primary again: the deployment circuit breaker rolled it back",
            short_td(ours),
            primary.map(short_td).unwrap_or("another task definition")
        ));
    };
    if mine.status() != Some("PRIMARY") {
        let primary = deployments
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.task_definition());
        return Poll::RolledBackByEcs(format!(
            "{} is primary instead of {}: the deployment was rolled back",
            primary.map(short_td).unwrap_or("another task definition"),
            short_td(ours)
        ));
    }
    let state = mine.rollout_state().map(|s| s.as_str().to_string());
    if state.as_deref() == Some("FAILED") {
        let reason = mine.rollout_state_reason().unwrap_or("no reason given");
        return Poll::Failed(format!("the deployment failed: {reason}"));
    }
    if mine.failed_tasks() > max_failed_tasks {
        return Poll::Failed(format!(
            "{} tasks of the new deployment stopped (more than {max_failed_tasks}): they crash or fail their health checks",
            mine.failed_tasks()
        ));
    }
    let complete = matches!(state.as_deref(), None | Some("COMPLETED"));
    let alone = deployments.len() == 1;
    let running = mine.running_count() == mine.desired_count()
        && service.running_count() == service.desired_count();
    if alone && complete && running {
        Poll::Done
    } else {
        Poll::Waiting
    }
}

fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The version of `environment` in an image reference's tag, if it has one.
fn running_version(image: &str, environment: &str) -> Option<Version> {
    let tag = super::parse_image(image).tag?;
    crate::version::parse_tag(environment, &tag)
}

/// What a prepared service waits for.
struct Pending {
    deploy: Deploy,
    previous: String,
    ours: String,
    polls: u32,
}

impl Ecs {
    /// Rolls several services out in one cluster; one result per deploy, in order.
    pub async fn rollout(
        &self,
        cluster: &str,
        deploys: Vec<Deploy>,
        settings: Settings,
    ) -> Result<Vec<(Target, Ended)>, EcsError> {
        let targets: Vec<Target> = deploys.iter().map(|d| d.target.clone()).collect();
        let described = self.describe(&targets).await?;
        let mut ended: BTreeMap<Target, Ended> = BTreeMap::new();
        let mut pending: Vec<Pending> = Vec::new();
        for deploy in deploys {
            let failed = |why: String| Ended::Failed {
                why,
                events: Vec::new(),
                rollback: Rollback::NotNeeded,
            };
            let Some(service) = described.services.get(&deploy.target) else {
                let why = format!(
                    "the service {} does not exist (DescribeServices reports it MISSING): create it once, then shipit updates it",
                    deploy.target
                );
                ended.insert(deploy.target.clone(), failed(why));
                continue;
            };
            match self.prepare(&deploy, service).await? {
                Ok(Prepared::Updated { previous, ours }) => pending.push(Pending {
                    deploy,
                    previous,
                    ours,
                    polls: 0,
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
                    ended.insert(deploy.target.clone(), failed(why));
                }
            }
        }
        let outcomes = self.wait(&mut pending, settings).await?;
        // Roll back what failed and ECS did not roll back itself, then wait for that too.
        let mut rollbacks: Vec<Pending> = Vec::new();
        let mut failures: BTreeMap<Target, (String, Rollback)> = BTreeMap::new();
        for (p, outcome) in pending.iter().zip(outcomes) {
            match outcome {
                Poll::Done => {
                    ended.insert(
                        p.deploy.target.clone(),
                        Ended::Done {
                            task_definition: p.ours.clone(),
                            polls: p.polls,
                        },
                    );
                }
                Poll::RolledBackByEcs(why) => {
                    failures.insert(p.deploy.target.clone(), (why, Rollback::ByEcs));
                }
                other => {
                    let why = match other {
                        Poll::Failed(why) => why,
                        _ => format!(
                            "the deployment did not finish within {}s (the deadline, `rollout_timeout`)",
                            settings.timeout.as_secs()
                        ),
                    };
                    self.client
                        .update_service()
                        .cluster(cluster)
                        .service(&p.deploy.target.service)
                        .task_definition(&p.previous)
                        .send()
                        .await
                        .map_err(|e| classify("UpdateService", e))?;
                    failures.insert(p.deploy.target.clone(), (why, Rollback::NotNeeded));
                    rollbacks.push(Pending {
                        deploy: p.deploy.clone(),
                        previous: p.ours.clone(),
                        ours: p.previous.clone(),
                        polls: 0,
                    });
                }
            }
        }
        let back = self.wait(&mut rollbacks, settings).await?;
        for (p, outcome) in rollbacks.iter().zip(back) {
            let rollback = match outcome {
                Poll::Done => Rollback::Done {
                    task_definition: p.ours.clone(),
                },
                Poll::Failed(why) | Poll::RolledBackByEcs(why) => Rollback::Failed { why },
                Poll::Waiting => Rollback::Failed {
                    why: format!(
                        "the previous task definition did not come back within {}s",
                        settings.timeout.as_secs()
                    ),
                },
            };
            if let Some(f) = failures.get_mut(&p.deploy.target) {
                f.1 = rollback;
            }
        }
        if !failures.is_empty() {
            let targets: Vec<Target> = failures.keys().cloned().collect();
            let now = self.describe(&targets).await?;
            for (target, (why, rollback)) in failures {
                let events = now
                    .services
                    .get(&target)
                    .map(|s| {
                        s.events()
                            .iter()
                            .take(5)
                            .filter_map(|e| e.message())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                ended.insert(
                    target,
                    Ended::Failed {
                        why,
                        events,
                        rollback,
                    },
                );
            }
        }
        Ok(targets
            .into_iter()
            .map(|t| {
                let e = ended.remove(&t).expect("every deploy ends");
                (t, e)
            })
            .collect())
    }

    /// Renders, registers and updates one service; or says why not.
    async fn prepare(
        &self,
        deploy: &Deploy,
        service: &Service,
    ) -> Result<Result<Prepared, String>, EcsError> {
        let Some(previous) = service.task_definition().map(str::to_string) else {
            return Ok(Err(format!(
                "the service {} has no task definition",
                deploy.target
            )));
        };
        let described = self
            .client
            .describe_task_definition()
            .task_definition(&previous)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| classify("DescribeTaskDefinition", e))?;
        let Some(live) = described.task_definition() else {
            return Ok(Err(format!(
                "the task definition {previous} could not be described"
            )));
        };
        let live = Rendered::from_live(live, described.tags());
        if let (Some(new), Some(running)) = (
            &deploy.version,
            live.image_of(&deploy.container)
                .and_then(|i| running_version(i, &deploy.environment)),
        ) && *new < running
            && !deploy.force
        {
            return Ok(Err(format!(
                "{} runs {running}, which is higher than {new}: refusing to go back (use `shipit deploy --force` to roll back on purpose)",
                deploy.target
            )));
        }
        let base = match &deploy.file {
            Some(text) => match Rendered::from_file(text) {
                Ok(r) => r,
                Err(why) => return Ok(Err(format!("the task definition file: {why}"))),
            },
            None => live.clone(),
        };
        if deploy.file.is_none() && live.image_of(&deploy.container) == Some(deploy.image.as_str())
        {
            return Ok(Ok(Prepared::AlreadyRunning(previous)));
        }
        let rendered = match base.with_image(&deploy.container, &deploy.image) {
            Ok(r) => r,
            Err(why) => return Ok(Err(why)),
        };
        let registered = rendered
            .apply(self.client.register_task_definition())
            .send()
            .await
            .map_err(|e| classify("RegisterTaskDefinition", e))?;
        let ours = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| {
                EcsError::Aws(crate::aws::AwsError::Api {
                    service: "ecs".into(),
                    what: "RegisterTaskDefinition".into(),
                    code: String::new(),
                    why: "no task definition ARN in the answer".into(),
                })
            })?
            .to_string();
        self.client
            .update_service()
            .cluster(&deploy.target.cluster)
            .service(&deploy.target.service)
            .task_definition(&ours)
            .send()
            .await
            .map_err(|e| classify("UpdateService", e))?;
        Ok(Ok(Prepared::Updated { previous, ours }))
    }

    /// Polls until every pending service is done or failed, or the deadline passes; one outcome per
    /// pending service, in order (`Waiting` for those the deadline caught).
    async fn wait(
        &self,
        pending: &mut [Pending],
        settings: Settings,
    ) -> Result<Vec<Poll>, EcsError> {
        let mut outcomes: Vec<Option<Poll>> = (0..pending.len()).map(|_| None).collect();
        let deadline = Instant::now() + settings.timeout;
        while outcomes.iter().any(Option::is_none) {
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(
                jitter(settings.poll).min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
            let open: Vec<Target> = pending
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.is_none())
                .map(|(p, _)| p.deploy.target.clone())
                .collect();
            let described = self.describe(&open).await?;
            for (p, outcome) in pending.iter_mut().zip(outcomes.iter_mut()) {
                if outcome.is_some() {
                    continue;
                }
                p.polls += 1;
                let Some(service) = described.services.get(&p.deploy.target) else {
                    *outcome = Some(Poll::Failed(format!(
                        "the service {} disappeared during the rollout",
                        p.deploy.target
                    )));
                    continue;
                };
                match judge(service, &p.ours, settings.max_failed_tasks) {
                    Poll::Waiting => {}
                    done => *outcome = Some(done),
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Poll::Waiting))
            .collect())
    }
}

enum Prepared {
    Updated { previous: String, ours: String },
    AlreadyRunning(String),
}

/// The poll interval, ±20%, so that many rollouts do not poll in step.
fn jitter(base: Duration) -> Duration {
    use rand::Rng;
    let factor: f64 = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(factor)
}
