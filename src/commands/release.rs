//! `shipit release`: reads the plan, checks what can be checked before anything is built or pushed,
//! connects the registry, the engine and ECS, runs the stages and writes the results (stdout,
//! `--report`, `--junit`, GitHub outputs and step summary).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{branch, check_writable, ecs_client, register_build_secrets, write_report};
use crate::base::Request;
use crate::config::{Checks, Config};
use crate::git::Repo;
use crate::github::{Env, Event};
use crate::pipeline::preflight::{check, labels};
use crate::pipeline::stop::{Signal, Stop};
use crate::pipeline::{self, Context, ServiceResult, Stage};
use crate::plan::Plan;
use crate::plan::inputs::PlanRequest;
use crate::report::{self, Style};
use crate::{Error, Finished, env_vars};

/// What `shipit release` was asked to do, as the command line gave it.
#[derive(Debug)]
pub struct Options {
    /// `--branch`, if given
    pub branch: Option<String>,
    pub range: Request,
    pub services: Vec<String>,
    pub dry_run: bool,
    pub jobs: Option<usize>,
    pub skip: BTreeSet<Stage>,
    pub fail_fast: bool,
    pub report: Option<PathBuf>,
    pub allow_dirty: bool,
    pub format: report::json::Format,
    pub junit: Option<PathBuf>,
    /// `--platform P` / `--assemble`: which platforms' images of a service with `platforms`.
    pub legs: pipeline::Legs,
}

pub fn run(
    env: &Env,
    repo: &Repo,
    file: &Path,
    mut args: Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Finished, Error> {
    if args.allow_dirty && env.in_actions() {
        // A runner's working tree is the commit plus whatever the workflow's steps wrote: what
        // would ship is no reviewed commit.
        return Err(Error::bad_input(
            "--allow-dirty is refused under GitHub Actions (GITHUB_ACTIONS=true): a release from CI ships the commit, never a working tree",
            Some("drop --allow-dirty from the workflow and commit what the image needs; --allow-dirty is for local experiments".to_string()),
        ));
    }
    let config = Arc::new(Config::load(file, repo.root(), Checks::Load)?);
    check_platform(&config, &args.legs)?;
    if let pipeline::Legs::One(_) = args.legs {
        // One platform's job: the assembling run prunes and rolls out, once.
        args.skip.extend([Stage::Retain, Stage::Rollout]);
    }
    // Before anything runs: a test that prints a build secret finds it masked.
    register_build_secrets(env, &config);
    let event = Event::from_env(env)?;
    let request = PlanRequest {
        branch: branch(env, repo, args.branch.clone())?,
        range: args.range.clone(),
        services: args.services.clone(),
        allow_dirty: args.allow_dirty,
    };
    check_provenance(env, repo, &config, &request)?;
    check_outputs(env, &args)?;
    runtime.block_on(async {
        let registry = match config.environment_for_branch(&request.branch).is_some() {
            true => Some(Arc::new(
                crate::registry::Client::connect(&config, env).await?,
            )),
            false => None,
        };
        let plan =
            crate::plan::inputs::plan(repo, &config, event.as_ref(), &request, registry.as_deref())
                .await?;
        for w in &plan.warnings {
            report::warn(env, w);
        }
        // The same checks as `shipit plan`: a dry run refuses what the release would refuse.
        check(
            env,
            repo,
            &config,
            &plan,
            &args.skip,
            args.allow_dirty,
            &|w| report::warn(env, w),
        )?;
        if args.dry_run {
            let format = match args.format {
                report::json::Format::Text => report::plan::Format::Text,
                report::json::Format::Json => report::plan::Format::Json,
            };
            report::stdout(&report::plan::render(&plan, format, Style::for_stdout(env)))?;
            return Ok(Finished::Success);
        }
        let ctx = context(env, repo, &config, &plan, registry, &args).await?;
        execute(env, &config, &plan, ctx, &args).await
    })
}

/// `--platform P` names a platform that a service of ci.toml lists in `platforms`.
fn check_platform(config: &Config, legs: &pipeline::Legs) -> Result<(), Error> {
    let pipeline::Legs::One(platform) = legs else {
        return Ok(());
    };
    let listed: BTreeSet<String> = config
        .services
        .iter()
        .flat_map(|s| {
            config
                .environments
                .iter()
                .map(move |e| s.build(e).platforms)
        })
        .flatten()
        .collect();
    if listed.contains(platform) {
        return Ok(());
    }
    Err(Error::bad_input(
        format!("--platform {platform}: no service of ci.toml lists it in `platforms`"),
        Some(match listed.is_empty() {
            true => "add `platforms = [\"linux/amd64\", \"linux/arm64\"]` to [project] (or a service) in ci.toml, or drop --platform".to_string(),
            false => format!(
                "name one of {}",
                listed.into_iter().collect::<Vec<_>>().join(", ")
            ),
        }),
    ))
}

/// A release to an environment ships the branch's reviewed tip, checked out.
fn check_provenance(
    env: &Env,
    repo: &Repo,
    config: &Config,
    request: &PlanRequest,
) -> Result<(), Error> {
    if config.environment_for_branch(&request.branch).is_none() {
        return Ok(());
    }
    let head = repo.resolve(request.range.head.as_deref().unwrap_or("HEAD"))?;
    crate::provenance::check_checkout(repo.resolve("HEAD")?, head)?;
    crate::provenance::check_branch(env, repo, &request.branch, head)?;
    Ok(())
}

/// Output files that cannot be written are refused before anything is pushed.
fn check_outputs(env: &Env, args: &Options) -> Result<(), Error> {
    if let Some(path) = &args.report {
        check_writable(path, "--report")?;
    }
    if let Some(path) = &args.junit {
        check_writable(path, "--junit")?;
    }
    if env.in_actions() {
        for name in [env_vars::GITHUB_OUTPUT, env_vars::GITHUB_STEP_SUMMARY] {
            if let Some(path) = env.get(name) {
                check_writable(path.as_ref(), name)?;
            }
        }
    }
    Ok(())
}

/// What the stages need from outside: the engine when something is built, ECS when a stage after
/// push runs, retention for a branch with an environment, the labels of every image.
async fn context(
    env: &Env,
    repo: &Repo,
    config: &Arc<Config>,
    plan: &Plan,
    registry: Option<Arc<crate::registry::Client>>,
    args: &Options,
) -> Result<Arc<Context>, Error> {
    let skip = &args.skip;
    // `--assemble` builds no service with `platforms` (their legs were pushed by the matrix): a
    // run that builds nothing else needs no engine.
    let assembled = |s: &crate::plan::ServicePlan| {
        args.legs == pipeline::Legs::Assemble
            && s.build.as_ref().is_some_and(|b| !b.platforms.is_empty())
    };
    let builds = plan
        .services
        .iter()
        .any(|s| s.action == crate::plan::Action::Build && !assembled(s))
        && !skip.contains(&Stage::Build);
    let engine = match builds {
        true => Some(crate::docker::Engine::connect(env).await?),
        false => None,
    };
    // ECS is asked only by the stages after push; without them no AWS setup is needed.
    let ecs = match skip.contains(&Stage::Retain) && skip.contains(&Stage::Rollout) {
        true => None,
        false => ecs_client(config).await?,
    };
    let retainer = plan
        .environment
        .as_ref()
        .map(|_| Arc::new(pipeline::retain::Retainer::new(config.clone(), ecs.clone())));
    // Signing and verifying keys, read now: a key missing or wrong stops the release before
    // anything runs.
    let environment = plan
        .environment
        .as_ref()
        .and_then(|e| config.environments.iter().find(|x| &x.name == e));
    let (signer, trust) = match environment {
        Some(environment) => {
            let signer = pipeline::verify::signer(environment, env).await?;
            let source = pipeline::preflight::source(env, repo).unwrap_or_default();
            let trust = match skip.contains(&Stage::Rollout) {
                true => None,
                false => {
                    pipeline::verify::trust(config, environment, signer.as_ref(), env, &source)
                        .await?
                }
            };
            (signer.map(Arc::new), trust.map(Arc::new))
        }
        None => (None, None),
    };
    Ok(Arc::new(Context {
        signer,
        trust,
        retainer,
        ecs,
        config: config.clone(),
        engine,
        registry,
        labels: labels(env, repo, plan, args.allow_dirty),
        commit: (!args.allow_dirty).then(|| plan.head.clone()),
        env: env.clone(),
    }))
}

/// Runs the plan with live progress, then writes the results everywhere they were asked for.
async fn execute(
    env: &Env,
    config: &Config,
    plan: &Plan,
    ctx: Arc<Context>,
    args: &Options,
) -> Result<Finished, Error> {
    // From here on a signal stops the release in order (see `pipeline::stop`).
    let stop = Arc::new(Stop::default());
    listen(stop.clone());
    let options = pipeline::Options {
        stop: stop.clone(),
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        skip: args.skip.clone(),
        fail_fast: args.fail_fast,
        legs: args.legs.clone(),
        log_dir: std::env::temp_dir().join(format!(
            "shipit-{}-{}",
            &plan.head[..12],
            std::process::id()
        )),
    };
    let started = std::time::SystemTime::now();
    let progress = Arc::new(report::release::Progress::new(env, plan));
    let sink = progress.clone();
    let results = pipeline::execute(plan, ctx, &options, Arc::new(move |e| sink.event(e))).await;
    progress.done();
    let interrupted = stop.signal();
    if interrupted.is_some() {
        report::stderr(&report::release::interrupted(&results));
    }
    let failed = results.iter().any(|r| r.outcome.is_failure());
    write_results(env, config, plan, &results, started, args, failed)?;
    Ok(match interrupted {
        Some(signal) => Finished::Interrupted(signal),
        None => Finished::failed_if(failed),
    })
}

/// The results: stdout, `--junit`, `--report`, and under GitHub Actions the step outputs and the
/// step summary.
fn write_results(
    env: &Env,
    config: &Config,
    plan: &Plan,
    results: &[ServiceResult],
    started: std::time::SystemTime,
    args: &Options,
    failed: bool,
) -> Result<(), Error> {
    let tests = report::junit::after_release(env, config, results, started, args.junit.as_deref())?;
    let run = report::json::Release::new(plan, results, &tests, !failed);
    match args.format {
        report::json::Format::Text => report::stdout(&format!(
            "{}{}",
            report::release::summary(plan, results, Style::for_stdout(env)),
            report::junit::text(&tests)
        ))?,
        report::json::Format::Json => report::stdout(&report::json::line(&run))?,
    }
    write_report(args.report.as_deref(), &run)?;
    if !env.in_actions() {
        return Ok(());
    }
    if let Some(path) = env.get(env_vars::GITHUB_OUTPUT) {
        let released =
            serde_json::to_string(&report::release::released(results)).unwrap_or_default();
        // `matrix`, `all` and `count` too, as `affected` writes them (the README's outputs).
        let mut outputs = vec![("released", released)];
        outputs.extend(report::github::plan_outputs(plan, config));
        report::github::write_outputs(path.as_ref(), &outputs)?;
    }
    if let Some(path) = env.get(env_vars::GITHUB_STEP_SUMMARY) {
        report::write_file(
            path.as_ref(),
            &format!(
                "{}{}",
                report::release::markdown(plan, results),
                report::junit::markdown(&tests)
            ),
            true,
        )?;
    }
    Ok(())
}

/// SIGINT and SIGTERM: the first stops the release in order (nothing new starts, tests, builds and
/// pushes are abandoned, a rollout under way is watched to its end), the second stops waiting for
/// rollouts, a third exits at once.
fn listen(stop: Arc<Stop>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
            };
            match stop.signalled(signal) {
                1 => report::stderr(&format!(
                    "{signal}: stopping: nothing new starts, tests, builds and pushes under way are abandoned, and a rollout under way is watched until it is confirmed or rolled back (a second signal stops waiting for it)\n"
                )),
                2 => report::stderr(&format!(
                    "{signal}: no longer waiting for the rollouts under way: they are left to ECS\n"
                )),
                _ => {
                    crate::pipeline::test::kill_all();
                    let first = stop.signal().unwrap_or(signal);
                    let status = crate::exit_status(&Ok(Finished::Interrupted(first)));
                    std::process::exit(status as i32);
                }
            }
        }
    });
}
