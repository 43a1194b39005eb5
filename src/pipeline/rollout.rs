//! The `rollout` stage: every released service's new image out to its clusters. Clusters roll out
//! concurrently (bounded), a canary cluster first and alone when the environment names one; within
//! a cluster, services share their DescribeServices polls.

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};

use crate::config::{Config, Environment};
use crate::ecs::rollout::{Deploy, Ended, Rollback, Settings};
use crate::ecs::{Ecs, EcsError, Target};

/// Clusters rolled out at once.
const CLUSTERS_AT_ONCE: usize = 4;
/// Stopped tasks of a new deployment before it counts as crash-looping.
pub const MAX_FAILED_TASKS: i32 = 3;

/// The rollouts of one cluster.
type ClusterResult = (String, Vec<(Target, Ended)>);

/// What to roll out for one service.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    /// `address:tag` of the image.
    pub image: String,
    pub version: Option<semver::Version>,
    pub force: bool,
}

/// Every (service, cluster) rollout of one environment; results by service, then cluster.
pub async fn run(
    ecs: &Ecs,
    config: &Config,
    env: &Environment,
    requests: &[Request],
) -> Result<BTreeMap<String, Vec<(String, Ended)>>, EcsError> {
    let mut by_cluster: BTreeMap<String, Vec<Deploy>> = BTreeMap::new();
    for r in requests {
        let service = config.service(&r.service).expect("requests name services");
        let build = service.build(env);
        let file = match &build.task_definition {
            Some(path) => Some(
                std::fs::read_to_string(config.root.join(path)).map_err(|e| {
                    EcsError::Aws(crate::aws::AwsError::Setup {
                        why: format!("cannot read the task definition {path}: {e}"),
                    })
                })?,
            ),
            None => None,
        };
        for cluster in &build.clusters {
            by_cluster.entry(cluster.clone()).or_default().push(Deploy {
                target: Target {
                    cluster: cluster.clone(),
                    service: service.ecs_service.clone(),
                },
                container: service.container.clone(),
                image: r.image.clone(),
                environment: env.name.clone(),
                version: r.version.clone(),
                file: file.clone(),
                force: r.force,
            });
        }
    }
    let settings = Settings {
        timeout: env.rollout_timeout,
        poll: env.poll_interval,
        max_failed_tasks: MAX_FAILED_TASKS,
    };
    let mut results: Vec<ClusterResult> = Vec::new();
    if let Some(canary) = env.canary.as_ref().and_then(|c| by_cluster.remove_entry(c)) {
        let ended = ecs.rollout(&canary.0, canary.1, settings).await?;
        let failed = ended.iter().any(|(_, e)| !e.is_success());
        results.push((canary.0.clone(), ended));
        if failed {
            // The canary failed: the other clusters keep what they run.
            for (cluster, deploys) in std::mem::take(&mut by_cluster) {
                let not_attempted = deploys
                    .into_iter()
                    .map(|d| {
                        let why = format!("not attempted: the canary cluster {} failed", canary.0);
                        (
                            d.target,
                            Ended::Failed {
                                why,
                                events: Vec::new(),
                                rollback: Rollback::NotNeeded,
                            },
                        )
                    })
                    .collect();
                results.push((cluster, not_attempted));
            }
        }
    }
    let rest: Vec<Result<ClusterResult, EcsError>> = stream::iter(by_cluster)
        .map(|(cluster, deploys)| async move {
            ecs.rollout(&cluster, deploys, settings)
                .await
                .map(|e| (cluster, e))
        })
        .buffer_unordered(CLUSTERS_AT_ONCE)
        .collect()
        .await;
    for r in rest {
        results.push(r?);
    }
    // Back to services: which ECS service of which ci.toml service ran where.
    let mut out: BTreeMap<String, Vec<(String, Ended)>> = BTreeMap::new();
    for (cluster, ended) in results {
        for (target, e) in ended {
            for r in requests {
                let s = config.service(&r.service).expect("requests name services");
                if s.ecs_service == target.service && s.build(env).clusters.contains(&cluster) {
                    out.entry(r.service.clone())
                        .or_default()
                        .push((cluster.clone(), e.clone()));
                }
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(out)
}

/// One line per cluster, for people.
pub fn describe(ended: &[(String, Ended)]) -> String {
    ended
        .iter()
        .map(|(cluster, e)| match e {
            Ended::Done {
                task_definition, ..
            } => format!("{cluster}: {}", short(task_definition)),
            Ended::AlreadyRunning { .. } => format!("{cluster}: already running"),
            Ended::Failed {
                why,
                events,
                rollback,
            } => {
                let rollback = match rollback {
                    Rollback::NotNeeded => String::new(),
                    Rollback::ByEcs => " (rolled back by the deployment circuit breaker)".into(),
                    Rollback::Done { task_definition } => {
                        format!(" (rolled back to {})", short(task_definition))
                    }
                    Rollback::Failed { why } => format!(" (and the rollback failed: {why})"),
                };
                let mut text = format!("{cluster}: {why}{rollback}");
                for e in events {
                    text.push_str(&format!("\n  {e}"));
                }
                text
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
