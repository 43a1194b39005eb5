//! The wait: polls until every pending deployment is done, failed, paused or past its deadline.
//! A deployment with a service deployment is judged by it (DescribeServiceDeployments); one
//! without (an endpoint without service deployments) by the service's `deployments` list.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::Service;

use super::super::deployment::{self, Verdict};
use super::super::{Ecs, EcsError, Target};
use super::{Pending, Poll, Progress, Report, Settings, by, short_td};

/// Why one poll of the service deployments under way (DescribeServiceDeployments) failed. A
/// failed poll does not end the wait: the deadline does.
#[derive(Debug, thiserror::Error)]
pub(super) enum PollError {
    #[error("DescribeServiceDeployments got no answer before the deadline")]
    Deadline { service_deployments: Vec<String> },
    #[error("{cause}")]
    Refused {
        service_deployments: Vec<String>,
        cause: EcsError,
    },
}

/// Judges one DescribeServices answer for the deployment of `ours`.
pub(super) fn judge(service: &Service, ours: &str, max_failed_tasks: i32) -> Poll {
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
            "the deployment of {} is gone and {} is primary again: the deployment circuit breaker (or a deployment alarm) rolled it back",
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
        return Poll::Failed(crash_loop(mine.failed_tasks(), max_failed_tasks));
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

/// Judges one poll of a deployment that has a service deployment: by its status, and, for a crash
/// loop the circuit breaker does not catch, by the failed tasks of its revision.
pub(super) fn judge_deployment(
    sd: &aws_sdk_ecs::types::ServiceDeployment,
    service: &Service,
    ours: &str,
    settings: Settings,
) -> Poll {
    match deployment::judge(sd, settings.wait_shifted) {
        Verdict::Done => Poll::Done,
        Verdict::Shifted => Poll::Shifted,
        Verdict::Paused(p) => Poll::Paused(p),
        Verdict::RolledBack(why) => {
            Poll::RolledBackByEcs(format!("ECS rolled the deployment back: {why}"))
        }
        Verdict::RollbackFailed(why) => Poll::EcsRollbackFailed(format!(
            "the deployment failed and ECS could not roll it back: {why}"
        )),
        Verdict::Stopped(why) => Poll::Stopped(format!("the deployment was stopped: {why}")),
        Verdict::Waiting => {
            let rolling_back = sd
                .status()
                .is_some_and(|s| s.as_str().starts_with("ROLLBACK"));
            let failed = service
                .deployments()
                .iter()
                .find(|d| d.task_definition() == Some(ours))
                .map(|d| d.failed_tasks())
                .unwrap_or(0);
            match !rolling_back && failed > settings.max_failed_tasks {
                true => Poll::Failed(crash_loop(failed, settings.max_failed_tasks)),
                false => Poll::Waiting,
            }
        }
    }
}

/// Judges one poll of the rollback shipit asked ECS for (StopServiceDeployment with ROLLBACK).
fn judge_undo(sd: &aws_sdk_ecs::types::ServiceDeployment) -> Poll {
    match deployment::judge_rollback(sd) {
        None => Poll::Waiting,
        Some(Ok(())) => Poll::Done,
        Some(Err(why)) => Poll::Failed(why.to_string()),
    }
}

fn crash_loop(failed: i32, max: i32) -> String {
    format!(
        "{failed} task{} of the new deployment stopped (more than {max}): they crash or fail their health checks",
        if failed == 1 { "" } else { "s" }
    )
}

/// Where the deployment of `ours` stands: counts and failed tasks.
fn standing(service: &Service, ours: &str) -> String {
    let mine = service
        .deployments()
        .iter()
        .find(|d| d.task_definition() == Some(ours));
    match mine {
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
    }
}

/// The poll interval, ±20%, so that many rollouts do not poll in step.
fn jitter(base: Duration) -> Duration {
    use rand::Rng;
    let factor: f64 = rand::thread_rng().gen_range(0.8..1.2);
    base.mul_f64(factor)
}

impl Ecs {
    /// Polls until every pending service is done or failed, or the deadline passes; one outcome per
    /// pending service, in order (`Waiting` for those the deadline caught), and the last error a
    /// poll met. A refused poll does not end the wait: the deadline does.
    pub(super) async fn wait(
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
            let arns: Vec<String> = pending
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.is_none())
                .filter_map(|(p, _)| p.deployment.clone())
                .collect();
            let deployments = match self.poll_deployments(&arns, deadline).await {
                Ok(d) => d,
                Err(e) => {
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
                let sd = p.deployment.as_ref().and_then(|a| deployments.get(a));
                let (state, poll) = match sd {
                    Some(sd) if p.undo => (deployment::standing(sd), judge_undo(sd)),
                    Some(sd) => (
                        deployment::standing(sd),
                        judge_deployment(sd, service, &p.ours, settings),
                    ),
                    None => (
                        standing(service, &p.ours),
                        judge(service, &p.ours, settings.max_failed_tasks),
                    ),
                };
                let state = match service.events().first().and_then(|e| e.message()) {
                    Some(event) => format!("{state} · {event}"),
                    None => state,
                };
                progress
                    .services
                    .push((p.deploy.target.service.clone(), state));
                match poll {
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

    /// The service deployments of one poll, by ARN (none asked, no call); or why the poll
    /// failed.
    async fn poll_deployments(
        &self,
        arns: &[String],
        deadline: Instant,
    ) -> Result<BTreeMap<String, aws_sdk_ecs::types::ServiceDeployment>, PollError> {
        if arns.is_empty() {
            return Ok(BTreeMap::new());
        }
        match by(deadline, self.service_deployments(arns)).await {
            None => Err(PollError::Deadline {
                service_deployments: arns.to_vec(),
            }),
            Some(Err(cause)) => Err(PollError::Refused {
                service_deployments: arns.to_vec(),
                cause,
            }),
            Some(Ok(found)) => Ok(found
                .into_iter()
                .filter_map(|sd| Some((sd.service_deployment_arn()?.to_string(), sd)))
                .collect()),
        }
    }
}
