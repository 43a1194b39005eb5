//! The rollout stage of a release: every released service of the environment, after all of them
//! are pushed.

use std::time::Instant;

use super::events::{Event, Outcome, ServiceResult, Sink, Stage, StageRecord, Status};
use super::failure::StageError;
use super::rollout;
use super::schedule::Context;
use crate::plan::Plan;

/// The rollout stage of every released service, after all of them are pushed (so that services of
/// one cluster roll out together and share their polls).
pub(super) async fn roll_out(
    plan: &Plan,
    ctx: &Context,
    results: &mut [ServiceResult],
    sink: &Sink,
) {
    let Some(env) = plan
        .environment
        .as_ref()
        .and_then(|e| ctx.config.environments.iter().find(|x| &x.name == e))
    else {
        return;
    };
    let mut requests = Vec::new();
    for r in results.iter() {
        let released = matches!(r.outcome, Outcome::Released | Outcome::Unchanged);
        let service = ctx.config.service(&r.name).expect("results name services");
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
        });
    }
    if requests.is_empty() {
        return;
    }
    for r in &requests {
        sink(Event::Started {
            service: r.service.clone(),
            stage: Stage::Rollout,
        });
    }
    let started = Instant::now();
    let outcome = match &ctx.ecs {
        Some(ecs) => rollout::run(
            ecs,
            &ctx.config,
            env,
            &requests,
            &rollout::progress_to(&ctx.config, env, &requests, sink.clone()),
        )
        .await
        .map_err(|e| e.to_string()),
        None => Err("ECS is not available".to_string()),
    };
    let all_clusters = |service: &str| {
        ctx.config
            .service(service)
            .map(|s| s.build(env).clusters)
            .unwrap_or_default()
    };
    for r in &requests {
        let result = results
            .iter_mut()
            .find(|x| x.name == r.service)
            .expect("requests come from results");
        let (detail, error) = match &outcome {
            Ok(by_service) => {
                let ended = by_service.get(&r.service).cloned().unwrap_or_default();
                let detail = rollout::describe(&ended);
                let ok = ended.iter().all(|(_, e)| e.is_success());
                let error = (!ok).then(|| {
                    StageError::rollout(&r.service, &r.image.to_string(), &ended, detail.clone())
                });
                (detail, error)
            }
            Err(why) => (
                why.clone(),
                Some(StageError::Rollout {
                    service: r.service.clone(),
                    image: r.image.to_string(),
                    clusters: all_clusters(&r.service),
                    why: why.clone(),
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
}
