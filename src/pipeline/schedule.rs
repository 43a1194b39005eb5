//! Scheduling: services run in parallel, bounded; a service starts once the services it depends
//! on have finished, and a failure stops it and everything that depends on it while the others go
//! on. The rollout stage runs last, for every released service at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::events::{Outcome, ServiceResult, Sink, Stage};
use super::retain;
use super::service::run_service;
use super::stage_rollout::roll_out;
use crate::config::Config;
use crate::docker::Engine;
use crate::plan::{Plan, ServicePlan};
use crate::registry::Client;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub skip: BTreeSet<Stage>,
    pub fail_fast: bool,
    /// Where the per-service logs go.
    pub log_dir: PathBuf,
}

/// What the stages need from outside.
pub struct Context {
    pub config: Arc<Config>,
    pub engine: Option<Engine>,
    pub registry: Option<Arc<Client>>,
    /// Labels every image gets (`org.opencontainers.image.revision`, `.source`, …).
    pub labels: BTreeMap<String, String>,
    /// Retention after push; `None` for a branch with no environment.
    pub retainer: Option<Arc<retain::Retainer>>,
    /// ECS, when the environment has clusters.
    pub ecs: Option<crate::ecs::Ecs>,
    /// The commit whose tree every build context is taken from; `None` builds from the working
    /// tree (`release --allow-dirty`).
    pub commit: Option<String>,
}

/// Runs every service of the plan; returns one result per service, in plan order.
pub async fn execute(
    plan: &Plan,
    ctx: Arc<Context>,
    options: &Options,
    sink: Sink,
) -> Vec<ServiceResult> {
    let names: BTreeSet<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    // What each planned service waits for: the planned services it depends on, transitively.
    let waits: BTreeMap<&str, BTreeSet<String>> = plan
        .services
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                planned_dependencies(&ctx.config, &s.name, &names),
            )
        })
        .collect();
    let mut results: BTreeMap<String, ServiceResult> = BTreeMap::new();
    let mut pending: Vec<&ServicePlan> = plan.services.iter().collect();
    let mut running = JoinSet::new();
    let mut stopped = false;
    loop {
        // Start what can start.
        let mut i = 0;
        while i < pending.len() {
            let s = pending[i];
            let deps = &waits[s.name.as_str()];
            let failed_dep = deps
                .iter()
                .find(|d| results.get(*d).is_some_and(|r| r.outcome.is_failure()));
            let blocked = match (stopped, failed_dep) {
                (true, _) => Some(Outcome::Cancelled),
                (false, Some(dep)) => Some(Outcome::Blocked { by: dep.clone() }),
                (false, None) => None,
            };
            if let Some(outcome) = blocked {
                results.insert(s.name.clone(), not_run(plan, s, outcome));
                pending.remove(i);
                continue;
            }
            let ready = deps.iter().all(|d| results.contains_key(d));
            if ready && running.len() < options.jobs.max(1) {
                let (service, ctx, sink, options) =
                    (s.clone(), ctx.clone(), sink.clone(), options.clone());
                let environment = plan.environment.clone();
                running.spawn(async move {
                    run_service(service, environment, ctx, &options, sink).await
                });
                pending.remove(i);
                continue;
            }
            i += 1;
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let result = done.unwrap_or_else(|e| panic!("a service task panicked: {e}"));
        if result.outcome.is_failure() && options.fail_fast {
            stopped = true;
        }
        results.insert(result.name.clone(), result);
    }
    let mut results: Vec<ServiceResult> = plan
        .services
        .iter()
        .filter_map(|s| results.remove(&s.name))
        .collect();
    if !options.skip.contains(&Stage::Rollout) {
        roll_out(plan, &ctx, &mut results, &sink).await;
    }
    results
}

fn planned_dependencies(config: &Config, name: &str, planned: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![name.to_string()];
    while let Some(n) = stack.pop() {
        for dep in config
            .service(&n)
            .map(|s| s.depends_on.clone())
            .unwrap_or_default()
        {
            if out.insert(dep.clone()) {
                stack.push(dep);
            }
        }
    }
    out.retain(|d| planned.contains(d.as_str()));
    out
}

fn not_run(plan: &Plan, s: &ServicePlan, outcome: Outcome) -> ServiceResult {
    ServiceResult {
        name: s.name.clone(),
        action: s.action,
        environment: plan.environment.clone(),
        version: s.next_version.as_ref().map(ToString::to_string),
        digest: None,
        tags: Vec::new(),
        repository: s.repository.clone(),
        image: plan.environment.as_deref().and_then(|e| s.image(e)),
        clusters: s.clusters.clone(),
        outcome,
        stages: Vec::new(),
        log: None,
        seconds: 0.0,
    }
}
