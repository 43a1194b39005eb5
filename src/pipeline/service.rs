//! One service's stages, in order, until one fails: test, build, push (or promote), retain.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::context::{Context, Options};
use super::events::{Event, Outcome, ServiceResult, Sink, Stage, StageRecord, Status};
use super::failure::StageError;
use super::test;
use crate::plan::{Action, ServicePlan};

/// One service's stages, in order, until one fails.
pub(super) async fn run_service(
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
    let image = environment.as_deref().and_then(|e| plan.image(e));
    ServiceResult {
        name: plan.name.clone(),
        action: plan.action,
        environment,
        version: plan.next_version.as_ref().map(ToString::to_string),
        digest: digest.or(plan.digest.clone()),
        tags,
        repository: plan.repository.clone(),
        image,
        clusters: plan.clusters.clone(),
        baking: Vec::new(),
        outcome,
        stages: run.stages,
        log: log.exists().then_some(log),
        seconds: started.elapsed().as_secs_f64(),
    }
}

pub(super) struct Run<'a> {
    pub(super) plan: &'a ServicePlan,
    pub(super) ctx: &'a Context,
    pub(super) sink: &'a Sink,
    pub(super) log: &'a Path,
    pub(super) stages: Vec<StageRecord>,
    pub(super) options: &'a Options,
}

impl Run<'_> {
    pub(super) fn emit_start(&self, stage: Stage) {
        (self.sink)(Event::Started {
            service: self.plan.name.clone(),
            stage,
        });
    }

    pub(super) fn finish(
        &mut self,
        stage: Stage,
        status: Status,
        started: Instant,
        detail: String,
    ) {
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

    pub(super) fn skipped(&mut self, stage: Stage, why: &str) {
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
                    Err(failure) => {
                        let error = StageError::Test {
                            service: plan.name.clone(),
                            failure,
                        };
                        return Err(self.fail(Stage::Test, started, error));
                    }
                }
            }
        }
        // One platform's job of a matrix builds that platform's image of the services that list
        // it, nothing else: the assembling run promotes, builds single images and rolls out.
        if let super::context::Legs::One(platform) = &self.options.legs
            && matches!(plan.action, Action::Build | Action::Promote)
            && !plan
                .build
                .as_ref()
                .is_some_and(|b| b.platforms.contains(platform))
        {
            let why = format!("not built for {platform}: `release --assemble` releases it");
            self.skipped(Stage::Build, &why);
            self.skipped(Stage::Push, &why);
            return Ok((None, Vec::new()));
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
            Ok(r) => {
                let error = StageError::NotRemoved {
                    service: self.plan.name.clone(),
                    repository: r.repository,
                    not_done: r.not_done,
                };
                Err(self.fail(Stage::Retain, started, error))
            }
            Err(e) => {
                let error = StageError::Retain {
                    service: self.plan.name.clone(),
                    repository: self.repository(),
                    why: super::failure::Cause::new(e),
                };
                Err(self.fail(Stage::Retain, started, error))
            }
        }
    }

    /// Ends `stage` as failed, with `error` as its detail: the outcome of the service.
    pub(super) fn fail(&mut self, stage: Stage, started: Instant, error: StageError) -> Outcome {
        self.finish(stage, Status::Failed, started, error.to_string());
        Outcome::Failed { stage, error }
    }

    pub(super) fn repository(&self) -> String {
        let service = self
            .ctx
            .config
            .service(&self.plan.name)
            .expect("planned services exist");
        service.repository(&self.ctx.config.project)
    }
}
