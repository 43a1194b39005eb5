//! Executes a [`Plan`]: per service, the stages `test → build → push` (retention and rollout slot
//! in after push). Services run in parallel, bounded; a service starts once the services it depends
//! on have finished, and a failure stops it and everything that depends on it while the others go
//! on. Nothing here prints: progress goes out as [`Event`]s.

pub mod deploy;
pub mod preflight;
mod publish;
pub mod release;
pub mod retain;
pub mod retain_command;
pub mod rollout;
pub mod test;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::docker::{BuildRequest, Engine};
use crate::fingerprint;
use crate::plan::{Action, Plan, ServicePlan};
use crate::registry::Client;

/// The stages of a release, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Test,
    Build,
    Push,
    Retain,
    Rollout,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Test => "test",
            Stage::Build => "build",
            Stage::Push => "push",
            Stage::Retain => "retain",
            Stage::Rollout => "rollout",
        }
    }
}

/// What the executor tells the report layer.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        service: String,
        stage: Stage,
    },
    /// One line of a test's or a build's output.
    Output {
        service: String,
        stage: Stage,
        line: String,
    },
    Finished {
        service: String,
        stage: Stage,
        status: Status,
        elapsed: Duration,
        detail: String,
    },
    /// A credential shipit holds (an ECR token's password): the report layer has it masked.
    Secret(String),
    /// One poll of a rollout in one cluster: where the ECS services of `services` stand.
    Progress {
        services: Vec<String>,
        line: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

/// How one service ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// Built and pushed, or promoted: the new tags are in the registry.
    Released,
    /// Its inputs were already released here.
    Unchanged,
    /// Tests only (a library, or a branch with no environment), and they passed.
    Tested,
    Failed {
        stage: Stage,
        error: String,
    },
    /// Not run: a service it depends on failed.
    Blocked {
        by: String,
    },
    /// Not run: `--fail-fast` stopped the release.
    Cancelled,
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed { .. } | Outcome::Blocked { .. } | Outcome::Cancelled
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    pub stage: Stage,
    pub status: Status,
    pub seconds: f64,
    pub detail: String,
}

/// The result of one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceResult {
    pub name: String,
    pub action: Action,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub digest: Option<String>,
    pub tags: Vec<String>,
    pub repository: Option<String>,
    pub clusters: Vec<String>,
    pub outcome: Outcome,
    pub stages: Vec<StageRecord>,
    /// The file holding the service's test and build output.
    pub log: Option<PathBuf>,
    pub seconds: f64,
}

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

type Sink = Arc<dyn Fn(Event) + Send + Sync>;

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

/// The rollout stage of every released service, after all of them are pushed (so that services of
/// one cluster roll out together and share their polls).
async fn roll_out(plan: &Plan, ctx: &Context, results: &mut [ServiceResult], sink: &Sink) {
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
        let (Some(repository), Some(version)) = (&r.repository, &r.version) else {
            continue;
        };
        requests.push(rollout::Request {
            service: r.name.clone(),
            image: format!(
                "{repository}:{}",
                crate::version::tag(&env.name, &version.parse().expect("a planned version"))
            ),
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
    for r in &requests {
        let result = results
            .iter_mut()
            .find(|x| x.name == r.service)
            .expect("requests come from results");
        let (status, detail) = match &outcome {
            Ok(by_service) => {
                let ended = by_service.get(&r.service).cloned().unwrap_or_default();
                let ok = ended.iter().all(|(_, e)| e.is_success());
                (
                    if ok { Status::Ok } else { Status::Failed },
                    rollout::describe(&ended),
                )
            }
            Err(why) => (Status::Failed, why.clone()),
        };
        let elapsed = started.elapsed();
        result.stages.push(StageRecord {
            stage: Stage::Rollout,
            status,
            seconds: elapsed.as_secs_f64(),
            detail: detail.clone(),
        });
        if status == Status::Failed {
            result.outcome = Outcome::Failed {
                stage: Stage::Rollout,
                error: detail.clone(),
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
        clusters: s.clusters.clone(),
        outcome,
        stages: Vec::new(),
        log: None,
        seconds: 0.0,
    }
}

/// One service's stages, in order, until one fails.
async fn run_service(
    plan: ServicePlan,
    environment: Option<String>,
    ctx: Arc<Context>,
    options: &Options,
    sink: Sink,
) -> ServiceResult {
    let started = Instant::now();
    let log = options.log_dir.join(format!("{}.log", plan.name));
    let mut run = Run {
        plan: &plan,
        ctx: &ctx,
        sink: &sink,
        log: &log,
        stages: Vec::new(),
        options,
    };
    let outcome = run.stages(environment.as_deref()).await;
    let (digest, tags) = match &outcome {
        Ok((digest, tags)) => (digest.clone(), tags.clone()),
        Err(_) => (None, Vec::new()),
    };
    let outcome = match outcome {
        // Pushed, but another run of the same inputs had written the version tag already.
        Ok((Some(_), tags))
            if matches!(plan.action, Action::Build | Action::Promote) && tags.is_empty() =>
        {
            Outcome::Unchanged
        }
        Ok(_) => match plan.action {
            Action::Build | Action::Promote => Outcome::Released,
            Action::Skip => Outcome::Unchanged,
            Action::Test | Action::Unknown => Outcome::Tested,
        },
        Err(failure) => failure,
    };
    ServiceResult {
        name: plan.name.clone(),
        action: plan.action,
        environment,
        version: plan.next_version.as_ref().map(ToString::to_string),
        digest: digest.or(plan.digest.clone()),
        tags,
        repository: plan.repository.clone(),
        clusters: plan.clusters.clone(),
        outcome,
        stages: run.stages,
        log: log.exists().then_some(log),
        seconds: started.elapsed().as_secs_f64(),
    }
}

struct Run<'a> {
    plan: &'a ServicePlan,
    ctx: &'a Context,
    sink: &'a Sink,
    log: &'a Path,
    stages: Vec<StageRecord>,
    options: &'a Options,
}

impl Run<'_> {
    fn emit_start(&self, stage: Stage) {
        (self.sink)(Event::Started {
            service: self.plan.name.clone(),
            stage,
        });
    }

    fn finish(&mut self, stage: Stage, status: Status, started: Instant, detail: String) {
        let elapsed = started.elapsed();
        self.stages.push(StageRecord {
            stage,
            status,
            seconds: elapsed.as_secs_f64(),
            detail: detail.clone(),
        });
        (self.sink)(Event::Finished {
            service: self.plan.name.clone(),
            stage,
            status,
            elapsed,
            detail,
        });
    }

    fn skipped(&mut self, stage: Stage, why: &str) {
        self.finish(stage, Status::Skipped, Instant::now(), why.to_string());
    }

    /// Runs the stages; on success, the digest released and the tags added.
    async fn stages(
        &mut self,
        environment: Option<&str>,
    ) -> Result<(Option<String>, Vec<String>), Outcome> {
        let plan = self.plan;
        // test
        match (&plan.test, self.options.skip.contains(&Stage::Test)) {
            (_, true) => self.skipped(Stage::Test, "--skip test"),
            (None, false) => self.skipped(Stage::Test, "no test command"),
            (Some(command), false) => {
                let started = Instant::now();
                self.emit_start(Stage::Test);
                let service = self
                    .ctx
                    .config
                    .service(&plan.name)
                    .expect("planned services exist");
                let dir = self.ctx.config.root.join(&service.path);
                let version = plan
                    .next_version
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let vars = [
                    ("SHIPIT_SERVICE", plan.name.as_str()),
                    ("SHIPIT_ENV", environment.unwrap_or("")),
                    ("SHIPIT_VERSION", version.as_str()),
                ];
                let sink = self.sink.clone();
                let name = plan.name.clone();
                let on_line = move |line: &str| {
                    sink(Event::Output {
                        service: name.clone(),
                        stage: Stage::Test,
                        line: line.to_string(),
                    })
                };
                match test::run(
                    command,
                    &dir,
                    &vars,
                    service.test_timeout,
                    self.log,
                    on_line,
                )
                .await
                {
                    Ok(()) => self.finish(Stage::Test, Status::Ok, started, String::new()),
                    Err(why) => {
                        self.finish(Stage::Test, Status::Failed, started, why.clone());
                        return Err(Outcome::Failed {
                            stage: Stage::Test,
                            error: why,
                        });
                    }
                }
            }
        }
        let released = match plan.action {
            Action::Build => self.build_and_push().await?,
            Action::Promote => self.promote().await?,
            Action::Skip => {
                self.skipped(Stage::Build, "already released with these inputs");
                self.skipped(Stage::Push, "already released with these inputs");
                (plan.digest.clone(), Vec::new())
            }
            Action::Test | Action::Unknown => return Ok((None, Vec::new())),
        };
        if let Some(env) = environment {
            self.retain(env, released.0.as_deref()).await?;
        }
        Ok(released)
    }

    /// The `retain` stage: prune this service's repository in this environment, keeping what this
    /// release pushed.
    async fn retain(&mut self, environment: &str, digest: Option<&str>) -> Result<(), Outcome> {
        if self.options.skip.contains(&Stage::Retain) {
            self.skipped(Stage::Retain, "--skip retain");
            return Ok(());
        }
        let (Some(retainer), Some(registry)) =
            (self.ctx.retainer.clone(), self.ctx.registry.clone())
        else {
            return Ok(());
        };
        let started = Instant::now();
        self.emit_start(Stage::Retain);
        let pushed: BTreeSet<String> = digest.map(str::to_string).into_iter().collect();
        let prune = [environment.to_string()];
        match retainer
            .repository(&registry, &self.plan.name, &prune, &pushed, true)
            .await
        {
            Ok(r) if r.not_done.is_empty() => {
                let kept = r.decisions.len() - r.removals();
                self.finish(
                    Stage::Retain,
                    Status::Ok,
                    started,
                    format!("{} removed, {kept} kept", r.removals()),
                );
                Ok(())
            }
            Ok(r) => Err(self.fail(
                Stage::Retain,
                started,
                format!("not removed: {}", r.not_done.join("; ")),
            )),
            Err(why) => Err(self.fail(Stage::Retain, started, why)),
        }
    }

    fn fail(&mut self, stage: Stage, started: Instant, why: String) -> Outcome {
        self.finish(stage, Status::Failed, started, why.clone());
        Outcome::Failed { stage, error: why }
    }

    async fn build_and_push(&mut self) -> Result<(Option<String>, Vec<String>), Outcome> {
        let plan = self.plan;
        let (Some(build), Some(fingerprint)) = (&plan.build, &plan.fingerprint) else {
            return Ok((None, Vec::new()));
        };
        if self.options.skip.contains(&Stage::Build) {
            self.skipped(Stage::Build, "--skip build");
            self.skipped(Stage::Push, "nothing was built");
            return Ok((None, Vec::new()));
        }
        let started = Instant::now();
        self.emit_start(Stage::Build);
        let Some(engine) = &self.ctx.engine else {
            return Err(self.fail(Stage::Build, started, "no Docker engine".into()));
        };
        let root = &self.ctx.config.root;
        let version = plan
            .next_version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut labels = self.ctx.labels.clone();
        labels.insert("org.opencontainers.image.version".into(), version.clone());
        labels.insert("dev.shipit.service".into(), plan.name.clone());
        labels.insert("dev.shipit.fingerprint".into(), fingerprint.clone());
        // A name of this run's own: a concurrent run of the same inputs on this engine untags its
        // own name when it is done, never this run's image.
        let local = format!(
            "shipit-build/{}:{}-{}-{}",
            plan.name,
            fingerprint,
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mut build_args = build.build_args.clone();
        // The commit's time, for tools that stamp files with it (the `created` label holds it too).
        if let Some(epoch) = self
            .ctx
            .labels
            .get("org.opencontainers.image.created")
            .and_then(|c| {
                time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339).ok()
            })
        {
            build_args
                .entry("SOURCE_DATE_EPOCH".into())
                .or_insert(epoch.unix_timestamp().to_string());
        }
        let secrets = match build_secrets(&build.secrets) {
            Ok(s) => s,
            Err(why) => return Err(self.fail(Stage::Build, started, why)),
        };
        for value in secrets.values() {
            // `::add-mask::` masks one line: each line of the value.
            for line in value.lines().filter(|l| !l.trim().is_empty()) {
                (self.sink)(Event::Secret(line.to_string()));
            }
        }
        let (cache_from, credentials) = match build.cache {
            true => {
                build_args.insert("BUILDKIT_INLINE_CACHE".into(), "1".into());
                (plan.cache_from.clone(), self.cache_credentials().await)
            }
            false => (Vec::new(), Default::default()),
        };
        let request =
            BuildRequest {
                service: plan.name.clone(),
                context: root.join(&build.context),
                dockerfile: root.join(&build.dockerfile),
                target: build.target.clone(),
                build_args,
                labels,
                tag: local.clone(),
                secrets,
                cache_from,
                credentials,
                committed: self.ctx.commit.as_ref().map(|commit| {
                    crate::docker::context::Committed {
                        root: root.clone(),
                        commit: commit.clone(),
                        context: build.context.clone(),
                        dockerfile: build.dockerfile.clone(),
                    }
                }),
            };
        let sink = self.sink.clone();
        let name = plan.name.clone();
        let mut log_file = test::LogFile::append(self.log);
        let image = engine
            .build(&request, |line| {
                log_file.line(line);
                sink(Event::Output {
                    service: name.clone(),
                    stage: Stage::Build,
                    line: line.to_string(),
                });
            })
            .await;
        let image = match image {
            Ok(id) => id,
            Err(e) => return Err(self.fail(Stage::Build, started, e.to_string())),
        };
        self.finish(Stage::Build, Status::Ok, started, short_id(&image));

        if self.options.skip.contains(&Stage::Push) {
            self.skipped(Stage::Push, "--skip push");
            return Ok((None, Vec::new()));
        }
        let started = Instant::now();
        self.emit_start(Stage::Push);
        let registry = self
            .ctx
            .registry
            .clone()
            .expect("a release that builds has a registry");
        let repository = self.repository();
        let result: Result<(String, Vec<String>), String> = async {
            let target = registry
                .push_target(&repository, &self.ctx.config)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(password) = target.credentials.as_ref().and_then(|c| c.password.clone()) {
                (self.sink)(Event::Secret(password));
            }
            // The engine pushes the image once, under its fingerprint tag, unless that tag names
            // an image already; every other tag is claimed in the registry on that digest.
            let fp_tag = fingerprint::tag(fingerprint);
            let (digest, ours) =
                publish::push_fingerprint(engine, &registry, &target, &repository, &image, &fp_tag)
                    .await?;
            let tags = self
                .add_tags(
                    &registry,
                    &repository,
                    &digest,
                    ours.then_some(fingerprint.as_str()),
                )
                .await?;
            Ok((digest, tags))
        }
        .await;
        engine.untag(&local).await;
        match result {
            Ok((digest, tags)) => {
                self.finish(
                    Stage::Push,
                    Status::Ok,
                    started,
                    match tags.is_empty() {
                        true => format!(
                            "{} was released by another run first",
                            short_digest(&digest)
                        ),
                        false => format!("{} {}", tags.join(" "), short_digest(&digest)),
                    },
                );
                Ok((Some(digest), tags))
            }
            Err(why) => Err(self.fail(Stage::Push, started, why)),
        }
    }

    /// The registry login the engine pulls `cache_from` images with (none when the plan names no
    /// cache image or the registry gives none).
    async fn cache_credentials(
        &self,
    ) -> std::collections::HashMap<String, bollard::auth::DockerCredentials> {
        let mut out = std::collections::HashMap::new();
        let Some(registry) = self.ctx.registry.clone() else {
            return out;
        };
        if self.plan.cache_from.is_empty() {
            return out;
        }
        if let Ok(target) = registry
            .push_target(&self.repository(), &self.ctx.config)
            .await
            && let Some(credentials) = target.credentials
        {
            if let Some(password) = credentials.password.clone() {
                (self.sink)(Event::Secret(password));
            }
            let host = target.reference.split('/').next().unwrap_or_default();
            out.insert(host.to_string(), credentials);
        }
        out
    }

    /// The plan's tags (the fingerprint's included) on `digest`, each claimed by one writer;
    /// `latest` moves, last. Returns the tags this run wrote: none when another run of the same
    /// inputs released them first. `pushed`: this run pushed the fingerprint tag (with this
    /// fingerprint), so a lost version tag may mean it moved the fingerprint tag (see
    /// [`publish::restore_fingerprint`]).
    async fn add_tags(
        &self,
        registry: &Client,
        repository: &str,
        digest: &str,
        pushed: Option<&str>,
    ) -> Result<Vec<String>, String> {
        let mut added = Vec::new();
        let (latest, claimed): (Vec<&String>, Vec<&String>) =
            self.plan.tags.iter().partition(|t| *t == "latest");
        for tag in claimed {
            match registry.claim(repository, digest, tag).await {
                Ok(true) => added.push(tag.clone()),
                Ok(false) if tag.starts_with("fp-") => added.push(tag.clone()),
                Ok(false) => {}
                Err(e) => {
                    let mut why = publish::lost(&e);
                    if let (crate::registry::RegistryError::TagExists { existing, .. }, Some(fp)) =
                        (&e, pushed)
                        && let Some(fixed) = publish::restore_fingerprint(
                            registry,
                            repository,
                            &fingerprint::tag(fp),
                            fp,
                            digest,
                            existing,
                        )
                        .await
                    {
                        why.push_str(&format!("; {fixed}"));
                    }
                    return Err(why);
                }
            }
        }
        if !added.iter().any(|t| !t.starts_with("fp-")) {
            // Another run released these inputs under this version first: nothing to move.
            return Ok(Vec::new());
        }
        for tag in latest {
            registry
                .retag(repository, digest, tag, true)
                .await
                .map_err(|e| e.to_string())?;
            added.push(tag.clone());
        }
        Ok(added)
    }

    async fn promote(&mut self) -> Result<(Option<String>, Vec<String>), Outcome> {
        self.skipped(Stage::Build, "promoted: the same inputs were built before");
        if self.options.skip.contains(&Stage::Push) {
            self.skipped(Stage::Push, "--skip push");
            return Ok((None, Vec::new()));
        }
        let started = Instant::now();
        self.emit_start(Stage::Push);
        let registry = self
            .ctx
            .registry
            .clone()
            .expect("a release that promotes has a registry");
        let digest = self
            .plan
            .digest
            .clone()
            .expect("a promotion names its digest");
        let repository = self.repository();
        match self.add_tags(&registry, &repository, &digest, None).await {
            Ok(tags) => {
                self.finish(
                    Stage::Push,
                    Status::Ok,
                    started,
                    format!("{} {} (promoted)", tags.join(" "), short_digest(&digest)),
                );
                Ok((Some(digest), tags))
            }
            Err(why) => Err(self.fail(Stage::Push, started, why)),
        }
    }

    fn repository(&self) -> String {
        let service = self
            .ctx
            .config
            .service(&self.plan.name)
            .expect("planned services exist");
        service.repository(&self.ctx.config.project)
    }
}

/// The values of a build's secrets (`ID = "env:VAR"`), read from the environment now.
fn build_secrets(sources: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (id, source) in sources {
        let var = source.strip_prefix("env:").unwrap_or(source);
        match std::env::var(var) {
            Ok(value) => {
                out.insert(id.clone(), value);
            }
            Err(_) => {
                return Err(format!(
                    "the build secret `{id}` comes from the environment variable {var}, which is \
                     not set: set it (under Actions: `env: {var}: ${{{{ secrets.{var} }}}}`)"
                ));
            }
        }
    }
    Ok(out)
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

pub fn short_digest(digest: &str) -> String {
    format!("sha256:{}", short_id(digest))
}
