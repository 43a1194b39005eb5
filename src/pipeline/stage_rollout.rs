//! The rollout stage of a release: every released service of the environment, after all of them
//! are pushed. After a first signal no rollout starts, and one under way is watched to its end; a
//! second signal stops watching, and each service says in which clusters it was left running.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::context::Context;
use super::events::{Event, Outcome, ServiceResult, Sink, Stage, StageRecord, Status};
use super::failure::{Cause, RolloutEnded, RolloutNotRun, StageError};
use super::rollout;
use super::stop::Stop;
use crate::config::{Config, Environment};
use crate::plan::Plan;

/// The rollout stage of every released service, after all of them are pushed (so that services of
/// one cluster roll out together and share their polls).
pub(super) async fn roll_out(
    plan: &Plan,
    ctx: &Context,
    results: &mut [ServiceResult],
    sink: &Sink,
    stop: &Stop,
) {
    let Some(env) = plan
        .environment
        .as_ref()
        .and_then(|e| ctx.config.environments.iter().find(|x| &x.name == e))
    else {
        return;
    };
    let mut requests = requests(&ctx.config, env, results);
    if requests.is_empty() {
        return;
    }
    let all_clusters = |service: &str| {
        ctx.config
            .service(service)
            .map(|s| s.build(env).clusters)
            .unwrap_or_default()
    };
    if let Some(signal) = stop.signal() {
        not_started(&signal.to_string(), &requests, results, sink);
        return;
    }
    for r in &requests {
        sink(Event::Started {
            service: r.service.clone(),
            stage: Stage::Rollout,
        });
    }
    let started = Instant::now();
    // The services whose deployments were polled: their update went through.
    let polled: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let watched: super::events::Sink = {
        let (sink, polled) = (sink.clone(), polled.clone());
        Arc::new(move |e: Event| {
            if let Event::Progress { services, .. } = &e {
                polled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(services.iter().cloned());
            }
            sink(e)
        })
    };
    // `verify`: every image checked and pinned to its digest before anything is registered.
    let verified = match (&ctx.trust, &ctx.registry) {
        (Some(trust), Some(registry)) => {
            let commits = commits(plan, &requests);
            super::verify::gate(
                registry,
                registry.as_ref(),
                &ctx.config,
                trust,
                &mut requests,
                &commits,
                &super::verify::read_facts,
            )
            .await
            .map_err(|cause| RolloutNotRun::Unverified {
                environment: env.name.clone(),
                cause: Cause::new(cause),
            })
        }
        // Never an unverified rollout: without a registry to read, nothing rolls out.
        (Some(trust), None) => Err(RolloutNotRun::Unverified {
            environment: env.name.clone(),
            cause: Cause::new(super::verify::VerifyError::NoRegistry {
                environment: trust.environment.clone(),
            }),
        }),
        (None, _) => Ok(()),
    };
    let outcome = match (&ctx.ecs, verified) {
        (_, Err(refused)) => Err(refused),
        (Some(ecs), Ok(())) => {
            let progress = rollout::progress_to(&ctx.config, env, &requests, watched);
            tokio::select! {
                out = rollout::run(ecs, &ctx.config, env, &requests, &progress) => {
                    out.map_err(|cause| RolloutNotRun::Refused {
                        environment: env.name.clone(),
                        cause: Arc::new(cause),
                    })
                }
                _ = stop.abandoned() => {
                    let polled = polled.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    abandon(&requests, results, sink, stop, started, |service| {
                        match polled.contains(service) {
                            true => all_clusters(service),
                            false => Vec::new(),
                        }
                    });
                    return;
                }
            }
        }
        (None, Ok(())) => Err(RolloutNotRun::NoEcs {
            environment: env.name.clone(),
        }),
    };
    for r in &requests {
        let result = results
            .iter_mut()
            .find(|x| x.name == r.service)
            .expect("requests come from results");
        finish(r, result, &outcome, started, sink, &all_clusters);
    }
}

/// What rolls out: every service released (or unchanged) with an image and clusters.
fn requests(
    config: &Config,
    env: &Environment,
    results: &[ServiceResult],
) -> Vec<rollout::Request> {
    let mut requests = Vec::new();
    for r in results {
        let released = matches!(r.outcome, Outcome::Released | Outcome::Unchanged);
        let service = config.service(&r.name).expect("results name services");
        if !released || !service.image || service.build(env).clusters.is_empty() {
            continue;
        }
        let (Some(image), Some(version)) = (&r.image, &r.version) else {
            continue;
        };
        requests.push(rollout::Request {
            service: r.name.clone(),
            image: image.clone(),
            version: version.parse().ok(),
            force: false,
            known: Default::default(),
        });
    }
    requests
}

/// The commit each image to roll out must come from: this release's for what it built, the one
/// its labels name for a promotion or a skip (the same inputs, built from an earlier commit).
fn commits(
    plan: &Plan,
    requests: &[rollout::Request],
) -> std::collections::BTreeMap<String, super::verify::Commit> {
    use super::verify::Commit;
    requests
        .iter()
        .filter_map(|r| {
            let p = plan.services.iter().find(|s| s.name == r.service)?;
            let commit = match p.action {
                crate::plan::Action::Build => Commit::Exactly(plan.head.clone()),
                _ => Commit::Labelled {
                    fingerprint: p.fingerprint.clone(),
                },
            };
            Some((r.service.clone(), commit))
        })
        .collect()
}

/// A signal came before the stage: no rollout starts, each service says so.
fn not_started(
    signal: &str,
    requests: &[rollout::Request],
    results: &mut [ServiceResult],
    sink: &Sink,
) {
    for r in requests {
        let result = results
            .iter_mut()
            .find(|x| x.name == r.service)
            .expect("requests come from results");
        let detail = format!("not started: {signal}");
        result.stages.push(StageRecord {
            stage: Stage::Rollout,
            status: Status::Skipped,
            seconds: 0.0,
            detail: detail.clone(),
        });
        result.outcome = Outcome::Interrupted {
            signal: signal.to_string(),
            stage: Some(Stage::Rollout),
            left_running: Vec::new(),
        };
        sink(Event::Finished {
            service: r.service.clone(),
            stage: Stage::Rollout,
            status: Status::Skipped,
            elapsed: std::time::Duration::ZERO,
            detail,
        });
    }
}

/// How each service's rollout ended, cluster by cluster.
type ByService = std::collections::BTreeMap<String, Vec<(String, crate::ecs::rollout::Ended)>>;

/// One service's rollout stage, from what the rollout of all of them ended with (by service), or
/// why it could not run.
fn finish(
    r: &rollout::Request,
    result: &mut ServiceResult,
    outcome: &Result<ByService, RolloutNotRun>,
    started: Instant,
    sink: &Sink,
    all_clusters: &dyn Fn(&str) -> Vec<String>,
) {
    let (detail, error) = match outcome {
        Ok(by_service) => {
            // What rolled out: pinned to its digest when `verify` checked it.
            result.image = Some(r.image.clone());
            let ended = by_service.get(&r.service).cloned().unwrap_or_default();
            result.baking = ended
                .iter()
                .filter(|(_, e)| matches!(e, crate::ecs::rollout::Ended::Shifted { .. }))
                .map(|(cluster, _)| cluster.clone())
                .collect();
            let detail = rollout::describe(&ended);
            let ok = ended.iter().all(|(_, e)| e.is_success());
            let error = (!ok).then(|| {
                StageError::rollout(
                    &r.service,
                    &r.image.to_string(),
                    &ended,
                    Cause::new(RolloutEnded(detail.clone())),
                )
            });
            (detail, error)
        }
        Err(why) => (
            why.to_string(),
            Some(StageError::Rollout {
                service: r.service.clone(),
                image: r.image.to_string(),
                clusters: all_clusters(&r.service),
                why: Cause::new(why.clone()),
            }),
        ),
    };
    let status = match error {
        Some(_) => Status::Failed,
        None => Status::Ok,
    };
    let elapsed = started.elapsed();
    result.stages.push(StageRecord {
        stage: Stage::Rollout,
        status,
        seconds: elapsed.as_secs_f64(),
        detail: detail.clone(),
    });
    if let Some(error) = error {
        result.outcome = Outcome::Failed {
            stage: Stage::Rollout,
            error,
        };
    }
    sink(Event::Finished {
        service: r.service.clone(),
        stage: Stage::Rollout,
        status,
        elapsed,
        detail,
    });
}

/// A second signal: the rollouts under way are no longer watched. A service whose deployment was
/// polled was left running in its clusters; the others may or may not have been updated.
fn abandon(
    requests: &[rollout::Request],
    results: &mut [ServiceResult],
    sink: &Sink,
    stop: &Stop,
    started: Instant,
    left_in: impl Fn(&str) -> Vec<String>,
) {
    let signal = stop.signal().map(|s| s.to_string()).unwrap_or_default();
    for r in requests {
        let result = results
            .iter_mut()
            .find(|x| x.name == r.service)
            .expect("requests come from results");
        let left_running = left_in(&r.service);
        let detail = match left_running.is_empty() {
            true => format!(
                "abandoned on a second {signal} before its deployment was seen: it may have been updated to {}",
                r.image
            ),
            false => format!(
                "abandoned on a second {signal}: {} left running in {}, unwatched",
                r.image,
                left_running.join(", ")
            ),
        };
        let elapsed = started.elapsed();
        result.stages.push(StageRecord {
            stage: Stage::Rollout,
            status: Status::Failed,
            seconds: elapsed.as_secs_f64(),
            detail: detail.clone(),
        });
        result.outcome = Outcome::Interrupted {
            signal: signal.clone(),
            stage: Some(Stage::Rollout),
            left_running,
        };
        sink(Event::Finished {
            service: r.service.clone(),
            stage: Stage::Rollout,
            status: Status::Failed,
            elapsed,
            detail,
        });
    }
}
