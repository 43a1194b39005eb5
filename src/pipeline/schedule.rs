//! Scheduling: services run in parallel, bounded; a service starts once the services it depends
//! on have finished, and a failure stops it and everything that depends on it while the others go
//! on. The rollout stage runs last, for every released service at once. On SIGINT/SIGTERM (see
//! [`Stop`]) nothing new starts and the services under way are abandoned where they are.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use super::context::{Context, Options};
use super::events::{Event, Outcome, ServiceResult, Sink, Stage, StageRecord};
use super::failure::{StageError, TestFailure};
use super::service::run_service;
use super::stage_rollout::roll_out;
use super::stop::Stop;
use crate::config::Config;
use crate::plan::{Plan, ServicePlan};

/// Runs every service of the plan; returns one result per service, in plan order.
pub async fn execute(
    plan: &Plan,
    ctx: Arc<Context>,
    options: &Options,
    sink: Sink,
) -> Vec<ServiceResult> {
    let waits = waits(plan, &ctx.config);
    let stop = options.stop.clone();
    // Where each service is, from its own events: what a signal interrupts.
    let (seen, sink) = Seen::watching(sink);
    let mut results: BTreeMap<String, ServiceResult> = BTreeMap::new();
    let mut pending: Vec<&ServicePlan> = plan.services.iter().collect();
    let mut running = JoinSet::new();
    // The service of each task, for a task aborted on a signal.
    let mut tasks: BTreeMap<tokio::task::Id, &ServicePlan> = BTreeMap::new();
    let mut stopped = false;
    let mut abandoned = false;
    loop {
        // Start what can start.
        let mut i = 0;
        while i < pending.len() {
            let s = pending[i];
            let deps = &waits[s.name.as_str()];
            if let Some(outcome) = blocked(&stop, stopped, deps, &results) {
                results.insert(s.name.clone(), not_run(plan, s, outcome));
                pending.remove(i);
                continue;
            }
            let ready = deps.iter().all(|d| results.contains_key(d));
            if ready && running.len() < options.jobs.max(1) {
                let (service, ctx, sink, options) =
                    (s.clone(), ctx.clone(), sink.clone(), options.clone());
                let environment = plan.environment.clone();
                let task = running.spawn(async move {
                    run_service(service, environment, ctx, &options, sink).await
                });
                tasks.insert(task.id(), s);
                pending.remove(i);
                continue;
            }
            i += 1;
        }
        let done = tokio::select! {
            biased;
            _ = stop.cancelled(), if !abandoned => {
                // Tests, builds and pushes under way are dropped where they are (a test's process
                // group is killed with it); what has not started is cancelled above.
                abandoned = true;
                running.abort_all();
                super::test::kill_all();
                continue;
            }
            done = running.join_next() => done,
        };
        let Some(done) = done else {
            break;
        };
        let result = match done {
            Ok(result) => after_signal(result, &stop),
            Err(e) if e.is_cancelled() => aborted(plan, tasks[&e.id()], &seen, &stop),
            Err(e) => panic!("a service task panicked: {e}"),
        };
        if result.outcome.is_failure() && options.fail_fast {
            stopped = true;
        }
        results.insert(result.name.clone(), result);
    }
    if abandoned && let Some(engine) = &ctx.engine {
        // The builds and pushes abandoned did not remove the local names they gave images.
        engine.remove_names_left().await;
    }
    let mut results = in_plan_order(plan, results);
    if !options.skip.contains(&Stage::Rollout) {
        roll_out(plan, &ctx, &mut results, &sink, &stop).await;
    }
    results
}

/// What each planned service waits for: the planned services it depends on, transitively.
fn waits<'a>(plan: &'a Plan, config: &Config) -> BTreeMap<&'a str, BTreeSet<String>> {
    let names: BTreeSet<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    plan.services
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                planned_dependencies(config, &s.name, &names),
            )
        })
        .collect()
}

/// Why a service that waits for `deps` is not to start, if it is not: a signal, `--fail-fast`
/// after a failure (`stopped`), or a dependency that failed.
fn blocked(
    stop: &Stop,
    stopped: bool,
    deps: &BTreeSet<String>,
    results: &BTreeMap<String, ServiceResult>,
) -> Option<Outcome> {
    let failed_dep = deps
        .iter()
        .find(|d| results.get(*d).is_some_and(|r| r.outcome.is_failure()));
    match (stop.signal(), stopped, failed_dep) {
        (Some(signal), _, _) => Some(Outcome::Interrupted {
            signal: signal.to_string(),
            stage: None,
            left_running: Vec::new(),
        }),
        (None, true, _) => Some(Outcome::Cancelled),
        (None, false, Some(dep)) => Some(Outcome::Blocked { by: dep.clone() }),
        (None, false, None) => None,
    }
}

/// A service that ended on its own; a test killed as the signal came, seen ending before its task
/// was aborted, was interrupted rather than failed.
fn after_signal(result: ServiceResult, stop: &Stop) -> ServiceResult {
    match (&result.outcome, stop.signal()) {
        (
            Outcome::Failed {
                stage,
                error:
                    StageError::Test {
                        failure: TestFailure::Signal { .. },
                        ..
                    },
            },
            Some(_),
        ) => ServiceResult {
            outcome: interrupted(stop, Some(*stage)),
            ..result
        },
        _ => result,
    }
}

/// A service whose task a signal aborted: the stages it finished, and the one it was in.
fn aborted(plan: &Plan, s: &ServicePlan, seen: &Seen, stop: &Stop) -> ServiceResult {
    let mut result = not_run(plan, s, Outcome::Cancelled);
    let (stage, stages) = seen.of(&s.name);
    result.stages = stages;
    result.outcome = interrupted(stop, stage);
    result
}

/// The results, one per service, in the plan's order.
fn in_plan_order(plan: &Plan, mut results: BTreeMap<String, ServiceResult>) -> Vec<ServiceResult> {
    plan.services
        .iter()
        .filter_map(|s| results.remove(&s.name))
        .collect()
}

/// What a signal made of a service that was in `stage` (or between stages).
fn interrupted(stop: &Stop, stage: Option<Stage>) -> Outcome {
    Outcome::Interrupted {
        signal: stop.signal().map(|s| s.to_string()).unwrap_or_default(),
        stage,
        left_running: Vec::new(),
    }
}

/// Each service's stage under way and its finished stages, as its events told.
#[derive(Default)]
struct Seen(Mutex<BTreeMap<String, Where>>);

/// The stage under way (none between stages) and the stages finished.
type Where = (Option<Stage>, Vec<StageRecord>);

impl Seen {
    /// A sink that tells `sink` every event, after noting where each service is.
    fn watching(sink: Sink) -> (Arc<Seen>, Sink) {
        let seen = Arc::new(Seen::default());
        let watched = seen.clone();
        let sink: Sink = Arc::new(move |e: Event| {
            watched.event(&e);
            sink(e)
        });
        (seen, sink)
    }

    fn event(&self, e: &Event) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Started { service, stage } => {
                seen.entry(service.clone()).or_default().0 = Some(*stage);
            }
            Event::Finished {
                service,
                stage,
                status,
                elapsed,
                detail,
            } => {
                let entry = seen.entry(service.clone()).or_default();
                entry.0 = None;
                entry.1.push(StageRecord {
                    stage: *stage,
                    status: *status,
                    seconds: elapsed.as_secs_f64(),
                    detail: detail.clone(),
                });
            }
            _ => {}
        }
    }

    /// The stage `service` was in (none between stages), and the stages it finished.
    fn of(&self, service: &str) -> Where {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(service).cloned().unwrap_or_default()
    }
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
        baking: Vec::new(),
        outcome,
        stages: Vec::new(),
        log: None,
        seconds: 0.0,
    }
}
