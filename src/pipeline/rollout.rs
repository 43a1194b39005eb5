//! The `rollout` stage: every released service's new image out to its clusters. Clusters roll out
//! concurrently (bounded), a canary cluster first and alone when the environment names one; within
//! a cluster, services share their DescribeServices polls.

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};

use crate::config::shared::FileKind;
use crate::config::{Config, Environment};
use crate::ecs::rollout::{
    Change, Deploy, Ended, Progress, Report, Rollback, Settings, SourceFile,
};
use crate::ecs::{Ecs, EcsError, Target};

/// Clusters rolled out at once.
const CLUSTERS_AT_ONCE: usize = 4;
/// Stopped tasks of a new deployment before it counts as crash-looping.
pub const MAX_FAILED_TASKS: i32 = 3;

/// The rollouts of one cluster.
type ClusterResult = (String, Vec<(Target, Ended)>);
/// What rolling out one cluster gave: its results, or the error that stopped it before it started.
type ClusterRollout = Result<Vec<(Target, Ended)>, EcsError>;

/// What to roll out for one service.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    /// `host/name:tag` of the image.
    pub image: crate::image::ImageRef,
    pub version: Option<semver::Version>,
    pub force: bool,
    /// This environment's versions in the registry, by digest: what a revision pinned to a digest
    /// runs, for the downgrade guard (filled where `verify` pins).
    pub known: std::collections::BTreeMap<String, semver::Version>,
}

/// Every (service, cluster) rollout of one environment; results by service, then cluster.
///
/// Services of ci.toml that share an ECS service roll out as one render with every new image in it.
/// An error is returned only when no deployment was started anywhere; once one was, every cluster's
/// result is reported, errors included, so that nothing in flight goes unwatched.
pub async fn run(
    ecs: &Ecs,
    config: &Config,
    env: &Environment,
    requests: &[Request],
    report: Report<'_>,
) -> Result<BTreeMap<String, Vec<(String, Ended)>>, EcsError> {
    let (deploys, mut conflicts) = gather(config, env, requests)?;
    let mut by_cluster: BTreeMap<String, Vec<Deploy>> = BTreeMap::new();
    let mut results: Vec<ClusterResult> = Vec::new();
    for (target, d) in deploys {
        match conflicts.remove(&target) {
            Some(why) => results.push((target.cluster.clone(), vec![(target, failed(why))])),
            None => by_cluster
                .entry(target.cluster.clone())
                .or_default()
                .push(d),
        }
    }
    let settings = settings(env);
    let mut errors: Vec<EcsError> = Vec::new();
    if let Some((cluster, deploys)) = env.canary.as_ref().and_then(|c| by_cluster.remove_entry(c)) {
        let ended = or_failed(deploys, &mut errors, |deploys| {
            ecs.rollout(&cluster, deploys, settings, report)
        })
        .await;
        let canary_failed = ended.iter().any(|(_, e)| !e.is_success());
        results.push((cluster.clone(), ended));
        if canary_failed {
            // The canary failed: the other clusters keep what they run.
            for (other, deploys) in std::mem::take(&mut by_cluster) {
                let why = format!("not attempted: the canary cluster {cluster} failed");
                let not_attempted = deploys
                    .into_iter()
                    .map(|d| (d.target, failed(why.clone())))
                    .collect();
                results.push((other, not_attempted));
            }
        }
    }
    let rest: Vec<(String, Vec<Target>, ClusterRollout)> = stream::iter(by_cluster)
        .map(|(cluster, deploys)| async move {
            let targets: Vec<Target> = deploys.iter().map(|d| d.target.clone()).collect();
            let ended = ecs.rollout(&cluster, deploys, settings, report).await;
            (cluster, targets, ended)
        })
        .buffer_unordered(CLUSTERS_AT_ONCE)
        .collect()
        .await;
    for (cluster, targets, ended) in rest {
        let ended = ended.unwrap_or_else(|e| {
            let why = e.to_string();
            errors.push(e);
            targets
                .into_iter()
                .map(|t| (t, failed(why.clone())))
                .collect()
        });
        results.push((cluster, ended));
    }
    // Nothing started anywhere: the first error is the answer (bad credentials are bad input).
    let started = results
        .iter()
        .any(|(_, ended)| ended.iter().any(|(_, e)| e.started()));
    if !started && !errors.is_empty() {
        return Err(errors.remove(0));
    }
    Ok(by_service(config, env, requests, results))
}

/// The deploys of an environment, and the targets that fail before they start, with why.
type Gathered = (BTreeMap<Target, Deploy>, BTreeMap<Target, String>);

/// One rollout of one ECS service per (cluster, ECS service), with every new image of the services
/// of ci.toml that share it, and the targets whose services name different files (they fail
/// before they start).
fn gather(config: &Config, env: &Environment, requests: &[Request]) -> Result<Gathered, EcsError> {
    let mut deploys: BTreeMap<Target, Deploy> = BTreeMap::new();
    let mut conflicts: BTreeMap<Target, String> = BTreeMap::new();
    for r in requests {
        let Some(service) = config.service(&r.service) else {
            continue;
        };
        let build = service.build(env);
        let file = read(
            config,
            build.task_definition.as_deref(),
            FileKind::TaskDefinition,
        )?;
        let definition = read(
            config,
            build.service_definition.as_deref(),
            FileKind::ServiceDefinition,
        )?;
        for cluster in &build.clusters {
            let target = Target {
                cluster: cluster.clone(),
                service: service.ecs_service.clone(),
            };
            let d = deploys.entry(target.clone()).or_insert_with(|| Deploy {
                target: target.clone(),
                changes: Vec::new(),
                keep: Vec::new(),
                environment: env.name.clone(),
                file: None,
                service_definition: None,
                force: r.force,
            });
            for (mine, kind, theirs) in [
                (&file, FileKind::TaskDefinition, &mut d.file),
                (
                    &definition,
                    FileKind::ServiceDefinition,
                    &mut d.service_definition,
                ),
            ] {
                match (mine, &theirs) {
                    (Some(m), Some(t))
                        if crate::config::shared::lexical(&m.path)
                            != crate::config::shared::lexical(&t.path) =>
                    {
                        conflicts.insert(
                            target.clone(),
                            format!(
                                "the services sharing {target} name different `{}` files ({} and {}): name one file in both",
                                key(kind),
                                t.path,
                                m.path
                            ),
                        );
                    }
                    (Some(m), None) => *theirs = Some(m.clone()),
                    _ => {}
                }
            }
            d.force |= r.force;
            d.changes.push(Change {
                service: service.name.clone(),
                container: service.container.clone(),
                image: r.image.clone(),
                version: r.version.clone(),
                known: r.known.clone(),
            });
        }
    }
    // The containers of the other services of each task keep their image.
    for (target, d) in deploys.iter_mut() {
        for s in &config.services {
            if s.image
                && s.ecs_service == target.service
                && s.build(env).clusters.contains(&target.cluster)
                && !d.changes.iter().any(|c| c.container == s.container)
            {
                d.keep.push(s.container.clone());
            }
        }
    }
    Ok((deploys, conflicts))
}

/// The rollout of one cluster, or, when it stopped before it started, a failure for each of its
/// services (the error kept in `errors`).
async fn or_failed<F>(
    deploys: Vec<Deploy>,
    errors: &mut Vec<EcsError>,
    rollout: impl FnOnce(Vec<Deploy>) -> F,
) -> Vec<(Target, Ended)>
where
    F: std::future::Future<Output = ClusterRollout>,
{
    let targets: Vec<Target> = deploys.iter().map(|d| d.target.clone()).collect();
    match rollout(deploys).await {
        Ok(ended) => ended,
        Err(e) => {
            let why = e.to_string();
            errors.push(e);
            targets
                .into_iter()
                .map(|t| (t, failed(why.clone())))
                .collect()
        }
    }
}

/// Back to services: which ECS service of which ci.toml service ran where.
fn by_service(
    config: &Config,
    env: &Environment,
    requests: &[Request],
    results: Vec<ClusterResult>,
) -> BTreeMap<String, Vec<(String, Ended)>> {
    let mut out: BTreeMap<String, Vec<(String, Ended)>> = BTreeMap::new();
    for (cluster, ended) in results {
        for (target, e) in ended {
            for r in requests {
                let Some(s) = config.service(&r.service) else {
                    continue;
                };
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
    out
}

/// The key of ci.toml that names a file of this kind.
fn key(kind: FileKind) -> &'static str {
    match kind {
        FileKind::TaskDefinition => "task_definition",
        FileKind::ServiceDefinition => "service_definition",
    }
}

/// What a file of this kind is, in words.
fn what(kind: FileKind) -> &'static str {
    match kind {
        FileKind::TaskDefinition => "task definition",
        FileKind::ServiceDefinition => "service definition",
    }
}

/// The rollout settings of an environment.
pub fn settings(env: &Environment) -> Settings {
    Settings {
        timeout: env.rollout_timeout,
        poll: env.poll_interval,
        max_failed_tasks: MAX_FAILED_TASKS,
        wait_shifted: env.rollout_wait == crate::config::RolloutWait::TrafficShifted,
    }
}

fn failed(why: String) -> Ended {
    Ended::Failed {
        why,
        events: Vec::new(),
        rollback: Rollback::NotNeeded,
    }
}

/// A file of a service, read before anything is rolled out.
fn read(
    config: &Config,
    path: Option<&str>,
    kind: FileKind,
) -> Result<Option<SourceFile>, EcsError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text =
        crate::limits::read_to_string(&config.root.join(path), crate::limits::DEFINITION_FILE)
            .map_err(|e| EcsError::File {
                what: what(kind),
                key: key(kind),
                path: path.to_string(),
                cause: e,
            })?;
    Ok(Some(SourceFile {
        path: path.to_string(),
        text,
    }))
}

/// Reads and renders every task definition and service definition file of `services` in `env`
/// (JSON, the named container present, the shape ECS takes), before anything is built or pushed;
/// the problems, one line each.
pub fn check_files<'a>(
    config: &Config,
    env: &Environment,
    services: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    use crate::ecs::render::check_file;
    let mut problems = Vec::new();
    for name in services {
        let Some(s) = config.service(name) else {
            continue;
        };
        let build = s.build(env);
        if !s.image || build.clusters.is_empty() {
            continue;
        }
        for (path, kind) in [
            (&build.task_definition, FileKind::TaskDefinition),
            (&build.service_definition, FileKind::ServiceDefinition),
        ] {
            let Some(path) = path else { continue };
            let result = crate::limits::read_to_string(
                &config.root.join(path),
                crate::limits::DEFINITION_FILE,
            )
            .map_err(|e| e.to_string())
            .and_then(|text| check_file(kind, &text, &s.container).map_err(|e| e.to_string()));
            if let Err(why) = result {
                problems.push(format!("the {} {path} of {name}: {why}", what(kind)));
            }
        }
    }
    problems
}

/// Turns each poll into a pipeline event naming the services of ci.toml it is about.
pub fn progress_to(
    config: &Config,
    env: &Environment,
    requests: &[Request],
    sink: std::sync::Arc<dyn Fn(crate::pipeline::Event) + Send + Sync>,
) -> impl Fn(Progress) + Send + Sync + use<> {
    // (cluster, ECS service) → services of ci.toml.
    let mut owners: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in requests {
        if let Some(s) = config.service(&r.service) {
            for c in s.build(env).clusters {
                owners
                    .entry((c, s.ecs_service.clone()))
                    .or_default()
                    .push(s.name.clone());
            }
        }
    }
    move |p: Progress| {
        let mut services: Vec<String> = p
            .services
            .iter()
            .flat_map(|(ecs_service, _)| {
                owners
                    .get(&(p.cluster.clone(), ecs_service.clone()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        services.dedup();
        sink(crate::pipeline::Event::Progress {
            services,
            line: p.line(),
        });
    }
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
            Ended::Shifted {
                task_definition, ..
            } => format!(
                "{cluster}: {} takes the production traffic; ECS bakes it on after shipit exits (`rollout_wait = \"traffic-shifted\"`) and may still roll it back",
                short(task_definition)
            ),
            Ended::Paused {
                task_definition,
                paused,
            } => format!("{cluster}: {} not done: {paused}", short(task_definition)),
            Ended::Failed {
                why,
                events,
                rollback,
            } => {
                let rollback = match rollback {
                    Rollback::NotNeeded => String::new(),
                    Rollback::ByEcs => " (rolled back by ECS)".into(),
                    Rollback::Stopped => " (stopped where it stood: nothing rolled back)".into(),
                    Rollback::Done { task_definition } => {
                        format!(" (rolled back to {})", short(task_definition))
                    }
                    Rollback::Failed { why } => format!(" (and the rollback failed: {why})"),
                    Rollback::Created => {
                        " (this rollout created the service: no previous revision to go back to)"
                            .into()
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Checks;
    use std::path::Path;

    /// A task definition file that cannot be read is named as such (bad input, with the key of
    /// ci.toml to fix), never taken for missing AWS credentials.
    #[test]
    fn an_unreadable_task_definition_file_is_named_not_taken_for_credentials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("api/deploy")).unwrap();
        std::fs::write(dir.path().join("api/deploy/td.json"), "{}").unwrap();
        let toml = "[environments.stage]\nbranch = \"develop\"\nclusters = [\"c\"]\n\n\
                    [services.api]\npath = \"api\"\ntask_definition = \"deploy/td.json\"\n";
        let config = Config::parse(
            toml,
            "ci.toml",
            Path::new("ci.toml"),
            dir.path(),
            Checks::Load,
        )
        .unwrap();
        // Gone between loading ci.toml and the rollout.
        std::fs::remove_file(dir.path().join("api/deploy/td.json")).unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let ecs = Ecs::new(&sdk);
        let env = &config.environments[0];
        let request = Request {
            service: "api".into(),
            image: crate::image::ImageRef::parse("reg.example/api:stage-1.0.0").unwrap(),
            version: None,
            force: false,
            known: Default::default(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(run(&ecs, &config, env, &[request], &|_| {}))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read the task definition api/deploy/td.json"),
            "{text}"
        );
        assert!(!text.contains("credentials"), "{text}");
        assert!(err.is_bad_input());
        let help = miette::Diagnostic::help(&err).map(|h| h.to_string());
        assert!(help.is_some_and(|h| h.contains("task_definition")));
    }
}
