//! Gathers what a plan is decided from: the affected services (git), their fingerprints and version
//! bumps (git trees and commit messages), version files, and the registry's tags.

use futures_util::{StreamExt, stream};
use git2::Oid;

use super::{Action, Facts, Plan, SCHEMA, ServicePlan, decide};
use crate::affected::{self, Affected};
use crate::base::{self, Request};
use crate::build_inputs::BuildInputs;
use crate::changes::Rules;
use crate::config::{Config, Environment};
use crate::fingerprint::{self, Inputs};
use crate::git::Repo;
use crate::github::Event;
use crate::registry::{Client, RepoState};
use crate::version::{self, Bump};
use crate::{Error, graph};

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub branch: String,
    pub range: Request,
    /// Only these services (and nothing else), when not empty.
    pub services: Vec<String>,
    /// `release --allow-dirty`: images are built from the working tree, so their fingerprints
    /// cover its contents and never equal a commit's.
    pub allow_dirty: bool,
}

/// Registry lookups at once.
const CONCURRENCY: usize = 8;

/// Plans a release of `request.branch`; `registry` is `None` offline.
pub async fn plan(
    repo: &Repo,
    config: &Config,
    event: Option<&Event>,
    request: &PlanRequest,
    registry: Option<&Client>,
) -> Result<Plan, Error> {
    for name in &request.services {
        if config.service(name).is_none() {
            let known: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::bad_input(
                format!("`{name}` is not a service in ci.toml"),
                Some(format!("the services are: {}", known.join(", "))),
            ));
        }
    }
    let mut affected = affected::compute(repo, config, &request.range, event)?;
    if !request.services.is_empty() {
        affected
            .services
            .retain(|s| request.services.contains(&s.name));
    }
    let environment = config.environment_for_branch(&request.branch);
    let mut warnings = std::mem::take(&mut affected.warnings);
    let head = Oid::from_str(&affected.head).map_err(git2_error)?;
    let base = affected
        .base
        .as_deref()
        .map(Oid::from_str)
        .transpose()
        .map_err(git2_error)?;

    let mut images: Vec<usize> = match environment {
        Some(_) => affected
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.image)
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };
    let mut services: Vec<ServicePlan> = affected
        .services
        .iter()
        .map(|s| test_only(config, s))
        .collect();
    let (Some(env), false) = (environment, images.is_empty()) else {
        return Ok(finish(
            request,
            environment,
            &affected,
            registry.is_none(),
            services,
            warnings,
        ));
    };

    let rules = Rules::new(config);
    // What every service's build reads, from the Dockerfiles of the commit that ships.
    let all: Vec<usize> = (0..config.services.len()).collect();
    let build = BuildInputs::new(config, &all, |files| repo.read_files(head, files))?;
    // Affected only through `test_only` files that no build reads: tests, no new image.
    images.retain(|&i| {
        let s = &affected.services[i];
        let idx = config.services.iter().position(|c| c.name == s.name);
        !idx.is_some_and(|idx| super::only_tests(config, idx, &s.reasons, &build))
    });
    let inputs = Inputs::new(config, &rules, &build, &repo.tree_entries(head)?);
    let bumps = bumps(repo, config, &rules, &build, base, head, &mut warnings)?;
    // Per image service, once: its index in the config and its fingerprint here.
    let targets: Vec<(usize, String)> = images
        .iter()
        .map(|&i| {
            let idx = config
                .services
                .iter()
                .position(|s| s.name == affected.services[i].name);
            let idx = idx.expect("affected names a service");
            (idx, inputs.fingerprint(config, idx, env))
        })
        .collect();
    let targets = match request.allow_dirty {
        false => targets,
        true => targets
            .into_iter()
            .map(|(idx, fp)| {
                let build = config.services[idx].build(env);
                fingerprint::dirty(&fp, &config.root, &build).map(|fp| (idx, fp))
            })
            .collect::<Result<Vec<_>, Error>>()?,
    };
    let states = match registry {
        Some(client) => Some(list_all(client, config, env, &targets).await?),
        None => None,
    };
    for ((k, &i), (idx, fingerprint)) in images.iter().enumerate().zip(targets) {
        let service = &config.services[idx];
        let floor = version_floor(repo, head, service)?;
        let state = states.as_ref().map(|st| &st[k]);
        let bump = bumps[idx].unwrap_or(Bump::Patch);
        let mut facts = Facts {
            environment: &env.name,
            latest: env.latest,
            fingerprint: &fingerprint,
            bump,
            initial: &service.initial_version,
            floor: floor.as_ref(),
            registry: state,
            dirty: request.allow_dirty,
            refuted: false,
        };
        let mut decision = decide(&facts);
        // A fingerprint tag is a mutable name: before promoting or skipping, the image it names
        // must say in its own labels that it is an image of these inputs.
        if let (Some(client), Some(digest), Action::Promote | Action::Skip) =
            (registry, &decision.digest, decision.action)
        {
            let repository = service.repository(&config.project);
            // An image whose config cannot be read proves nothing either.
            let why = match client.labels(&repository, digest).await {
                Ok(labels) => super::refuted(labels.as_ref(), &fingerprint),
                Err(e) => Some(format!("its config could not be read ({e})")),
            };
            if let Some(why) = why {
                let instead = match decision.action {
                    Action::Skip => "skipping it",
                    _ => "promoting it",
                };
                let said = format!(
                    "{}: {} names {}, but {why}",
                    service.name,
                    fingerprint::tag(&fingerprint),
                    digest.chars().take(19).collect::<String>(),
                );
                facts.refuted = true;
                decision = decide(&facts);
                // Released here already by such a rebuild: its version's own labels say so.
                let proven =
                    match decision.last_version.as_ref().and_then(|last| {
                        state.and_then(|s| s.digest(&version::tag(&env.name, last)))
                    }) {
                        Some(d) => client
                            .labels(&repository, d)
                            .await
                            .ok()
                            .filter(|l| super::refuted(l.as_ref(), &fingerprint).is_none())
                            .map(|_| d.to_string()),
                        None => None,
                    };
                match (proven, decision.last_version.clone()) {
                    (Some(d), Some(last)) => {
                        warnings.push(format!(
                            "{said}; {} is an image of these inputs by its own labels: unchanged",
                            version::tag(&env.name, &last)
                        ));
                        decision = super::Decision {
                            action: Action::Skip,
                            last_version: Some(last.clone()),
                            next_version: Some(last),
                            tags: Vec::new(),
                            digest: Some(d),
                        };
                    }
                    _ => warnings.push(format!("{said}: building it again instead of {instead}")),
                }
            }
        }
        let mut build = service.build(env);
        file_build_args(repo, head, &mut build)?;
        let p = &mut services[i];
        p.action = decision.action;
        p.repository = match state {
            Some(st) => Some(st.address.clone()),
            None => offline_address(config, service),
        };
        p.last_version = decision.last_version;
        p.next_version = decision.next_version;
        p.bump = Some(bump);
        p.tags = decision.tags;
        p.fingerprint = Some(fingerprint);
        p.digest = decision.digest;
        p.clusters = build.clusters.clone();
        if let (Some(state), true, Action::Build) = (state, build.cache, decision.action) {
            p.cache_from = super::cache_from(
                &state.address,
                &env.name,
                p.last_version.as_ref(),
                default_environment(config),
                state,
            );
        }
        p.build = Some(build);
    }
    Ok(finish(
        request,
        environment,
        &affected,
        registry.is_none(),
        services,
        warnings,
    ))
}

/// Where an image goes when the registry is not asked: known from ci.toml for `oci://` and
/// `ecr://`; for `ecr` only the registry names its host, so offline it is unknown (never a bare
/// name).
fn offline_address(
    config: &Config,
    service: &crate::config::Service,
) -> Option<crate::image::Repository> {
    let name = service.repository(&config.project);
    let host = match &config.project.registry {
        crate::config::Registry::Ecr => return None,
        crate::config::Registry::EcrAt { account, region } => {
            format!("{account}.dkr.ecr.{region}.amazonaws.com")
        }
        crate::config::Registry::Oci { host, prefix } => {
            return crate::image::Repository::new(
                host,
                &prefix
                    .as_ref()
                    .map_or(name.clone(), |p| format!("{p}/{name}")),
            )
            .ok();
        }
    };
    crate::image::Repository::new(&host, &name).ok()
}

/// The environment of the default branch (`project.default_branch`, else the one that pushes
/// `latest`, else `main`'s).
fn default_environment(config: &Config) -> Option<&str> {
    let by_branch = |b: &str| config.environments.iter().find(|e| e.branch == b);
    let env = match &config.project.default_branch {
        Some(b) => by_branch(b),
        None => config
            .environments
            .iter()
            .find(|e| e.latest)
            .or_else(|| by_branch("main")),
    };
    env.map(|e| e.name.as_str())
}

fn git2_error(e: git2::Error) -> Error {
    Error::Git(e.into())
}

fn test_only(config: &Config, s: &affected::AffectedService) -> ServicePlan {
    ServicePlan {
        name: s.name.clone(),
        path: s.path.clone(),
        image: s.image,
        action: Action::Test,
        test: config.service(&s.name).and_then(|c| c.test.clone()),
        repository: None,
        last_version: None,
        next_version: None,
        bump: None,
        tags: Vec::new(),
        fingerprint: None,
        digest: None,
        clusters: Vec::new(),
        build: None,
        cache_from: Vec::new(),
        reasons: s.reasons.clone(),
    }
}

fn finish(
    request: &PlanRequest,
    environment: Option<&Environment>,
    affected: &Affected,
    offline: bool,
    services: Vec<ServicePlan>,
    warnings: Vec<String>,
) -> Plan {
    Plan {
        schema: SCHEMA,
        branch: request.branch.clone(),
        environment: environment.map(|e| e.name.clone()),
        base: affected.base.clone(),
        head: affected.head.clone(),
        base_source: affected.base_source.clone(),
        all: affected.all,
        offline,
        services,
        warnings,
    }
}

/// The bump of every service (config order): the largest that a commit of base..head asks for among
/// the commits that affect it (what its build reads included). `None` for a service no commit
/// touched.
fn bumps(
    repo: &Repo,
    config: &Config,
    rules: &Rules,
    build: &BuildInputs,
    base: Option<Oid>,
    head: Oid,
    warnings: &mut Vec<String>,
) -> Result<Vec<Option<Bump>>, Error> {
    let mut out = vec![None; config.services.len()];
    let Some(base) = base else { return Ok(out) };
    if !base::ensure_history(repo, base, head) {
        warnings.push(
            "the commits between base and head are not all in this clone: version bumps count only the ones present \
             (check out with fetch-depth: 0)"
                .to_string(),
        );
    }
    for commit in repo.commits(Some(base), head)? {
        let bump = version::bump_of(&commit.message);
        let classified = rules.classify_with(commit.paths.iter().map(String::as_str), build);
        for hit in graph::affected(config, classified) {
            let slot = &mut out[hit.service];
            *slot = Some(slot.map_or(bump, |b: Bump| b.max(bump)));
        }
    }
    Ok(out)
}

/// The values of the build's `build_args_file` at head that an `ARG` of its Dockerfile names, added
/// to its build args under the ones ci.toml writes.
fn file_build_args(repo: &Repo, head: Oid, build: &mut crate::config::Build) -> Result<(), Error> {
    let Some(file) = &build.build_args_file else {
        return Ok(());
    };
    let help = || Some("commit it, or fix `build_args_file` in ci.toml".to_string());
    let Some(bytes) = repo.read_file(head, file)? else {
        return Err(Error::bad_input(
            format!("the build args file `{file}` is not in the commit"),
            help(),
        ));
    };
    let values = crate::dotenv::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
        Error::bad_input(
            format!("the build args file `{file}`, {e}"),
            Some("write `NAME=value` lines (comments start with `#`)".to_string()),
        )
    })?;
    let dockerfile = repo.read_file(head, &build.dockerfile)?.unwrap_or_default();
    let names = crate::docker::dockerfile::arg_names(&String::from_utf8_lossy(&dockerfile));
    for (name, value) in values {
        if names.contains(&name) {
            build.build_args.entry(name).or_insert(value);
        }
    }
    Ok(())
}

/// The version in the service's version file at head, if it has one.
fn version_floor(
    repo: &Repo,
    head: Oid,
    service: &crate::config::Service,
) -> Result<Option<semver::Version>, Error> {
    let Some(file) = &service.version_file else {
        return Ok(None);
    };
    let path = service.join(file);
    let Some(bytes) = repo.read_file(head, &path)? else {
        return Err(Error::bad_input(
            format!(
                "the version file `{path}` of service `{}` is not in the commit",
                service.name
            ),
            Some("commit it, or remove `version_file` from the service in ci.toml".to_string()),
        ));
    };
    let name = std::path::Path::new(&path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let text = String::from_utf8_lossy(&bytes);
    version::read_version_file(name, &text).map(Some).map_err(|why| {
        Error::bad_input(
            format!("the version file `{path}` of service `{}` does not hold a version: {why}", service.name),
            Some("write a version such as 1.2.3 there, or remove `version_file` from the service in ci.toml".to_string()),
        )
    })
}

/// The registry state of every image service, asked concurrently; only the tags that matter have
/// their digests resolved (this environment's versions and the service's fingerprint).
async fn list_all(
    client: &Client,
    config: &Config,
    env: &Environment,
    targets: &[(usize, String)],
) -> Result<Vec<RepoState>, Error> {
    let jobs: Vec<(String, String)> = targets
        .iter()
        .map(|(idx, fp)| {
            (
                config.services[*idx].repository(&config.project),
                fingerprint::tag(fp),
            )
        })
        .collect();
    let results: Vec<Result<RepoState, crate::registry::RegistryError>> = stream::iter(jobs)
        .map(|(repository, fp_tag)| async move {
            let wanted = |t: &str| t == fp_tag || version::parse_tag(&env.name, t).is_some();
            client.list(&repository, &wanted).await
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    results
        .into_iter()
        .map(|r| r.map_err(Error::from))
        .collect()
}
