//! After the wait: what failed and ECS did not roll back itself is rolled back (StopServiceDeployment
//! with ROLLBACK where ECS has service deployments, UpdateService to the previous task definition
//! where it has not), that is waited for too, and each failure gets the service's last events.

use std::collections::BTreeMap;
use std::time::Instant;

use super::super::{Ecs, Target, classify};
use super::{Ended, Pending, Poll, Report, Rollback, Settings, by, secs, short_td};

/// What the rollbacks of one cluster share: its name, the settings, when they began, and their
/// deadline.
struct Undo<'a> {
    cluster: &'a str,
    settings: Settings,
    now: Instant,
    deadline: Instant,
}

/// How one deployment's wait ended, once settled.
enum Settled {
    Ended(Ended),
    Failed(String, Rollback),
    /// A rollback was asked for: the failure, and the rollback to wait for.
    RollingBack(String, Pending),
}

pub(super) fn timed_out(settings: Settings, last_error: Option<&str>) -> String {
    format!(
        "the deployment did not finish within {}s (the deadline, `rollout_timeout`){}",
        settings.timeout.as_secs(),
        last_error
            .map(|e| format!("; a poll failed on the way: {e}"))
            .unwrap_or_default()
    )
}

impl Ecs {
    /// Settles the outcomes of a wait into `ended`: what failed and ECS did not roll back itself is
    /// rolled back, and that is waited for too, within one call deadline past the rollout's and
    /// never longer than a rollout of its own; failures get the service's last events.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn finish(
        &self,
        cluster: &str,
        pending: &[Pending],
        outcomes: Vec<Poll>,
        last_error: Option<String>,
        deadline: Instant,
        settings: Settings,
        report: Report<'_>,
        ended: &mut BTreeMap<Target, Ended>,
    ) {
        let now = Instant::now();
        let undo = Undo {
            cluster,
            settings,
            now,
            deadline: (now.max(deadline) + crate::net::timeout()).min(now + settings.timeout),
        };
        let mut rollbacks: Vec<Pending> = Vec::new();
        let mut failures: BTreeMap<Target, (String, Rollback)> = BTreeMap::new();
        for (p, outcome) in pending.iter().zip(outcomes) {
            let target = p.deploy.target.clone();
            match self.settle(p, outcome, last_error.as_deref(), &undo).await {
                Settled::Ended(e) => {
                    ended.insert(target, e);
                }
                Settled::Failed(why, rollback) => {
                    failures.insert(target, (why, rollback));
                }
                Settled::RollingBack(why, back) => {
                    let unconfirmed = Rollback::Failed {
                        why: "not confirmed".into(),
                    };
                    failures.insert(target, (why, unconfirmed));
                    rollbacks.push(back);
                }
            }
        }
        self.confirm(&mut rollbacks, &mut failures, &undo, report)
            .await;
        self.with_events(failures, undo.deadline, ended).await;
    }

    /// What one outcome of the wait leaves: a result, a failure with where it was left, or a
    /// rollback asked for (to be confirmed by a wait of its own).
    async fn settle(
        &self,
        p: &Pending,
        outcome: Poll,
        last_error: Option<&str>,
        undo: &Undo<'_>,
    ) -> Settled {
        let why = match outcome {
            Poll::Done => {
                return Settled::Ended(Ended::Done {
                    task_definition: p.ours.clone(),
                    polls: p.polls,
                });
            }
            Poll::Shifted => {
                return Settled::Ended(Ended::Shifted {
                    task_definition: p.ours.clone(),
                    polls: p.polls,
                    service_deployment: p.deployment.clone().unwrap_or_default(),
                });
            }
            Poll::Paused(paused) => {
                return Settled::Ended(Ended::Paused {
                    task_definition: p.ours.clone(),
                    paused,
                });
            }
            Poll::RolledBackByEcs(why) => return Settled::Failed(why, Rollback::ByEcs),
            Poll::EcsRollbackFailed(why) => {
                let rollback = Rollback::Failed {
                    why: "ECS's own rollback failed".into(),
                };
                return Settled::Failed(why, rollback);
            }
            Poll::Stopped(why) => return Settled::Failed(why, Rollback::Stopped),
            Poll::Failed(why) => why,
            Poll::Waiting => timed_out(undo.settings, last_error),
        };
        let Some(previous) = &p.previous else {
            return Settled::Failed(why, Rollback::Created);
        };
        let back = Pending {
            deploy: p.deploy.clone(),
            previous: Some(p.ours.clone()),
            ours: previous.clone(),
            polls: 0,
            deployment: p.deployment.clone(),
            undo: p.deployment.is_some(),
        };
        match self.roll_back(p, previous, undo).await {
            Ok(()) => Settled::RollingBack(why, back),
            Err(rollback) => Settled::Failed(why, rollback),
        }
    }

    /// Asks for the rollback of a failed deployment: StopServiceDeployment with ROLLBACK where
    /// ECS has service deployments (never a second deployment on top of its own), UpdateService
    /// back to the previous task definition where it has not.
    async fn roll_back(
        &self,
        p: &Pending,
        previous: &str,
        undo: &Undo<'_>,
    ) -> Result<(), Rollback> {
        let waited = secs(undo.deadline.saturating_duration_since(undo.now));
        if let Some(arn) = &p.deployment {
            return match by(undo.deadline, self.stop_with_rollback(arn)).await {
                None => Err(Rollback::Failed {
                    why: format!(
                        "StopServiceDeployment (ROLLBACK) of {arn} got no answer within {waited}s: whether it went through is unknown, check the service"
                    ),
                }),
                Some(Ok(())) => Ok(()),
                Some(Err(e)) => Err(Rollback::Failed {
                    why: format!("StopServiceDeployment (ROLLBACK) of {arn} was refused: {e}"),
                }),
            };
        }
        let back = by(
            undo.deadline,
            self.client
                .update_service()
                .cluster(undo.cluster)
                .service(&p.deploy.target.service)
                .task_definition(previous)
                .send(),
        )
        .await;
        match back {
            None => Err(Rollback::Failed {
                why: format!(
                    "UpdateService back to {} got no answer within {waited}s: whether it went through is unknown, check the service",
                    short_td(previous),
                ),
            }),
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(Rollback::Failed {
                why: format!(
                    "UpdateService back to {} was refused: {}",
                    short_td(previous),
                    classify("UpdateService", e)
                ),
            }),
        }
    }

    /// Waits for the rollbacks asked for, and records in `failures` how each ended.
    async fn confirm(
        &self,
        rollbacks: &mut [Pending],
        failures: &mut BTreeMap<Target, (String, Rollback)>,
        undo: &Undo<'_>,
        report: Report<'_>,
    ) {
        let (back, last_error) = self
            .wait(
                undo.cluster,
                rollbacks,
                undo.settings,
                undo.deadline,
                report,
            )
            .await;
        for (p, outcome) in rollbacks.iter().zip(back) {
            let rollback = match outcome {
                Poll::Done => Rollback::Done {
                    task_definition: p.ours.clone(),
                },
                Poll::Waiting => Rollback::Failed {
                    why: format!(
                        "the previous task definition did not come back within {}s{}",
                        secs(undo.deadline.saturating_duration_since(undo.now)),
                        last_error
                            .as_deref()
                            .map(|e| format!(" (a poll failed on the way: {e})"))
                            .unwrap_or_default()
                    ),
                },
                Poll::Failed(why)
                | Poll::RolledBackByEcs(why)
                | Poll::EcsRollbackFailed(why)
                | Poll::Stopped(why) => Rollback::Failed { why },
                Poll::Shifted | Poll::Paused(_) => Rollback::Failed {
                    why: "the rollback did not finish".into(),
                },
            };
            if let Some(f) = failures.get_mut(&p.deploy.target) {
                f.1 = rollback;
            }
        }
    }

    /// The failures, with each service's last events (a help, not the result: a refused describe
    /// leaves them out).
    async fn with_events(
        &self,
        failures: BTreeMap<Target, (String, Rollback)>,
        deadline: Instant,
        ended: &mut BTreeMap<Target, Ended>,
    ) {
        if failures.is_empty() {
            return;
        }
        let targets: Vec<Target> = failures.keys().cloned().collect();
        let last = by(deadline, self.describe(&targets))
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
}
