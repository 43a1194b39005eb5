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
//! The calls: DescribeServices (ten services a call), DescribeTaskDefinition (with tags),
//! RegisterTaskDefinition, one UpdateService (or CreateService) per service, then DescribeServices
//! polls.
//!
//! Over 500 lines because a rollout is one state machine (render, register, update or create, poll,
//! roll back, report) whose steps share the deploy's state and its deadline; split, the steps would
//! pass that state around whole.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::Service;
use semver::Version;
use serde::Serialize;

use super::render::{Rendered, service_definition};
use super::{Ecs, EcsError, Target, classify};

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
        !matches!(self, Ended::Failed { .. })
    }

    /// True when this rollout changed what the service runs (or tried to, and went back).
    pub fn started(&self) -> bool {
        match self {
            Ended::Done { .. } => true,
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
            "{} task{} of the new deployment stopped (more than {max_failed_tasks}): they crash or fail their health checks",
            mine.failed_tasks(),
            if mine.failed_tasks() == 1 { "" } else { "s" }
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
    let tag = crate::image::parse(image).tag?;
    crate::version::parse_tag(environment, &tag)
}

/// What a prepared service waits for.
struct Pending {
    deploy: Deploy,
    /// The task definition before ours; none when this rollout created the service.
    previous: Option<String>,
    ours: String,
    polls: u32,
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
        let mut ended: BTreeMap<Target, Ended> = BTreeMap::new();
        let mut pending: Vec<Pending> = Vec::new();
        for deploy in deploys {
            let service = described.services.get(&deploy.target);
            match self.prepare(&deploy, service).await {
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
                    ended.insert(deploy.target.clone(), Ended::failed(why));
                }
            }
        }
        // The deadline of the deployments, from the updates on.
        let deadline = Instant::now() + settings.timeout;
        let (outcomes, last_error) = self
            .wait(cluster, &mut pending, settings, deadline, report)
            .await;
        // Roll back what failed and ECS did not roll back itself, then wait for that too: within
        // one call deadline past the rollout's, and never longer than a rollout of its own.
        let now = Instant::now();
        let rollback_deadline =
            (now.max(deadline) + crate::net::timeout()).min(now + settings.timeout);
        let mut rollbacks: Vec<Pending> = Vec::new();
        let mut failures: BTreeMap<Target, (String, Rollback)> = BTreeMap::new();
        for (p, outcome) in pending.iter().zip(outcomes) {
            let target = p.deploy.target.clone();
            let why = match outcome {
                Poll::Done => {
                    ended.insert(
                        target,
                        Ended::Done {
                            task_definition: p.ours.clone(),
                            polls: p.polls,
                        },
                    );
                    continue;
                }
                Poll::RolledBackByEcs(why) => {
                    failures.insert(target, (why, Rollback::ByEcs));
                    continue;
                }
                Poll::Failed(why) => why,
                Poll::Waiting => timed_out(settings, last_error.as_deref()),
            };
            let Some(previous) = &p.previous else {
                failures.insert(target, (why, Rollback::Created));
                continue;
            };
            let back = by(
                rollback_deadline,
                self.client
                    .update_service()
                    .cluster(cluster)
                    .service(&target.service)
                    .task_definition(previous)
                    .send(),
            )
            .await;
            match back {
                None => {
                    let rollback = Rollback::Failed {
                        why: format!(
                            "UpdateService back to {} got no answer within {}s: whether it went through is unknown, check the service",
                            short_td(previous),
                            secs(rollback_deadline.saturating_duration_since(now))
                        ),
                    };
                    failures.insert(target, (why, rollback));
                }
                Some(Ok(_)) => {
                    failures.insert(
                        target,
                        (
                            why,
                            Rollback::Failed {
                                why: "not confirmed".into(),
                            },
                        ),
                    );
                    rollbacks.push(Pending {
                        deploy: p.deploy.clone(),
                        previous: Some(p.ours.clone()),
                        ours: previous.clone(),
                        polls: 0,
                    });
                }
                Some(Err(e)) => {
                    let rollback = Rollback::Failed {
                        why: format!(
                            "UpdateService back to {} was refused: {}",
                            short_td(previous),
                            classify("UpdateService", e)
                        ),
                    };
                    failures.insert(target, (why, rollback));
                }
            }
        }
        let (back, last_error) = self
            .wait(cluster, &mut rollbacks, settings, rollback_deadline, report)
            .await;
        for (p, outcome) in rollbacks.iter().zip(back) {
            let rollback = match outcome {
                Poll::Done => Rollback::Done {
                    task_definition: p.ours.clone(),
                },
                Poll::Failed(why) | Poll::RolledBackByEcs(why) => Rollback::Failed { why },
                Poll::Waiting => Rollback::Failed {
                    why: format!(
                        "the previous task definition did not come back within {}s{}",
                        secs(rollback_deadline.saturating_duration_since(now)),
                        last_error
                            .as_deref()
                            .map(|e| format!(" (a poll failed on the way: {e})"))
                            .unwrap_or_default()
                    ),
                },
            };
            if let Some(f) = failures.get_mut(&p.deploy.target) {
                f.1 = rollback;
            }
        }
        if !failures.is_empty() {
            let targets: Vec<Target> = failures.keys().cloned().collect();
            // The events are a help, not the result: a refused describe leaves them out.
            let last = by(rollback_deadline, self.describe(&targets))
                .await
                .and_then(Result::ok)
                .unwrap_or_default();
            for (target, (why, rollback)) in failures {
                let events = last
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
                let e = ended
                    .remove(&t)
                    .unwrap_or_else(|| Ended::failed("no result (listed twice?)".into()));
                (t, e)
            })
            .collect())
    }

    /// Renders, registers and updates (or creates) one ECS service; or says why not, having
    /// changed nothing.
    async fn prepare(
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
        if let Err(e) = updated {
            let why = classify("UpdateService", e).to_string();
            // An answer lost on the way (a timeout) may hide an update that went through: look
            // before calling it not started. When ECS does not say either, the update is watched
            // (and rolled back) as if it had gone through.
            if self.runs(&deploy.target, &ours).await == Some(false) {
                return Err(why);
            }
        }
        Ok(Prepared::Updated {
            previous: Some(previous),
            ours,
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
        if let Err(e) = created
            && self.runs(target, &ours).await == Some(false)
        {
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
        Ok(Prepared::Updated {
            previous: None,
            ours,
        })
    }

    /// Polls until every pending service is done or failed, or the deadline passes; one outcome per
    /// pending service, in order (`Waiting` for those the deadline caught), and the last error a
    /// poll met. A refused poll does not end the wait: the deadline does.
    async fn wait(
        &self,
        cluster: &str,
        pending: &mut [Pending],
        settings: Settings,
        deadline: Instant,
        report: Report<'_>,
    ) -> (Vec<Poll>, Option<String>) {
        let mut outcomes: Vec<Option<Poll>> = (0..pending.len()).map(|_| None).collect();
        let mut last_error = None;
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
            if Instant::now() >= deadline {
                break;
            }
            let described = match by(deadline, self.describe(&open)).await {
                None => {
                    last_error.get_or_insert_with(|| {
                        "DescribeServices got no answer before the deadline".to_string()
                    });
                    break;
                }
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    let text = e.to_string();
                    report(Progress {
                        cluster: cluster.to_string(),
                        services: vec![("poll failed:".into(), text.clone())],
                    });
                    last_error = Some(text);
                    continue;
                }
            };
            let mut progress = Progress {
                cluster: cluster.to_string(),
                services: Vec::new(),
            };
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
                progress
                    .services
                    .push((p.deploy.target.service.clone(), standing(service, &p.ours)));
                match judge(service, &p.ours, settings.max_failed_tasks) {
                    Poll::Waiting => {}
                    done => *outcome = Some(done),
                }
            }
            if !progress.services.is_empty() {
                report(progress);
            }
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Poll::Waiting))
            .collect();
        (outcomes, last_error)
    }
}

/// Where the deployment of `ours` stands: counts, failed tasks and the service's newest event.
fn standing(service: &Service, ours: &str) -> String {
    let mine = service
        .deployments()
        .iter()
        .find(|d| d.task_definition() == Some(ours));
    let counts = match mine {
        Some(d) => format!(
            "{}/{} running, {} pending, {} failed",
            d.running_count(),
            d.desired_count(),
            d.pending_count(),
            d.failed_tasks()
        ),
        None => format!(
            "{}/{} running (its deployment is gone)",
            service.running_count(),
            service.desired_count()
        ),
    };
    match service.events().first().and_then(|e| e.message()) {
        Some(event) => format!("{counts} · {event}"),
        None => counts,
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

fn timed_out(settings: Settings, last_error: Option<&str>) -> String {
    format!(
        "the deployment did not finish within {}s (the deadline, `rollout_timeout`){}",
        settings.timeout.as_secs(),
        last_error
            .map(|e| format!("; a poll failed on the way: {e}"))
            .unwrap_or_default()
    )
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

enum Prepared {
    Updated {
        previous: Option<String>,
        ours: String,
    },
    AlreadyRunning(String),
}

/// The poll interval, ±20%, so that many rollouts do not poll in step.
fn jitter(base: Duration) -> Duration {
    use rand::Rng;
    let factor: f64 = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(factor)
}
