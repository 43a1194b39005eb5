//! Retention against the real world: which digests ECS runs (read once, failing closed), each
//! repository's images, the pure choice of [`crate::retention`], and, with `apply`, the removals.

use std::collections::{BTreeMap, BTreeSet};

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::ecs::{Ecs, EcsError, Target};
use crate::registry::{Client, RegistryError};
use crate::retention::{self, Decision, Image, Policy, Protected};

/// Why retention of one repository stopped. Nothing more is removed then: what ECS runs and what a
/// kept index needs must be known before anything goes.
#[derive(Debug, Error, Diagnostic)]
pub enum RetainError {
    #[error("`{service}` is not a service")]
    #[diagnostic(code(shipit::retain::unknown_service))]
    UnknownService { service: String },

    #[error("clusters are configured but ECS cannot be asked: nothing is removed")]
    #[diagnostic(code(shipit::retain::no_ecs))]
    NoEcs,

    #[error("cannot tell which images ECS runs, so nothing is removed: {0}")]
    #[diagnostic(code(shipit::retain::running))]
    Running(#[source] EcsError),

    #[error("cannot read which images the kept indexes reference, so nothing is removed: {0}")]
    #[diagnostic(code(shipit::retain::children))]
    Children(#[source] RegistryError),

    #[error(
        "cannot read the referrers (provenance, SBOM, signatures) of the images, so nothing is removed: {0}"
    )]
    #[diagnostic(code(shipit::retain::referrers))]
    Referrers(#[source] RegistryError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
}

impl RetainError {
    /// True when the user can fix this before anything runs (an address, credentials): exit status
    /// 2. A service that answers wrongly, or refuses a removal, is a failed stage: 1.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RetainError::UnknownService { .. } => true,
            RetainError::NoEcs => false,
            RetainError::Running(e) => e.is_bad_input(),
            RetainError::Children(e) | RetainError::Referrers(e) | RetainError::Registry(e) => {
                e.is_bad_input()
            }
        }
    }
}

/// One repository's retention: every decision, and what could not be done.
#[derive(Debug, Clone, Serialize)]
pub struct RepoRetention {
    pub service: String,
    pub repository: String,
    pub decisions: Vec<Decision>,
    pub applied: bool,
    pub not_done: Vec<String>,
}

impl RepoRetention {
    pub fn removals(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| !matches!(d, Decision::Keep { .. }))
            .count()
    }
}

/// Shared by every service of a release: ECS is read once.
pub struct Retainer {
    config: std::sync::Arc<Config>,
    ecs: Option<Ecs>,
    running: OnceCell<BTreeMap<String, BTreeSet<String>>>,
}

impl Retainer {
    /// `ecs` is needed when any environment has clusters; without it and with clusters configured,
    /// retention refuses to run (it cannot know what is running).
    pub fn new(config: std::sync::Arc<Config>, ecs: Option<Ecs>) -> Retainer {
        Retainer {
            config,
            ecs,
            running: OnceCell::new(),
        }
    }

    /// Every (cluster, ECS service) of every image service in every environment.
    fn targets(&self) -> Vec<Target> {
        let mut out = BTreeSet::new();
        for env in &self.config.environments {
            for s in self.config.services.iter().filter(|s| s.image) {
                for cluster in s.build(env).clusters {
                    out.insert(Target {
                        cluster,
                        service: s.ecs_service.clone(),
                    });
                }
            }
        }
        out.into_iter().collect()
    }

    /// Image references that ECS runs, with where. Fails (and so nothing is deleted) when ECS
    /// cannot be read.
    async fn running(&self) -> Result<&BTreeMap<String, BTreeSet<String>>, RetainError> {
        self.running
            .get_or_try_init(|| async {
                let targets = self.targets();
                if targets.is_empty() {
                    return Ok(BTreeMap::new());
                }
                let Some(ecs) = &self.ecs else {
                    return Err(RetainError::NoEcs);
                };
                ecs.running_images(&targets)
                    .await
                    .map_err(RetainError::Running)
            })
            .await
    }

    /// Decides (and with `apply`, removes) for one service's repository.
    pub async fn repository(
        &self,
        registry: &Client,
        service: &str,
        prune: &[String],
        pushed: &BTreeSet<String>,
        apply: bool,
    ) -> Result<RepoRetention, RetainError> {
        let config = &self.config;
        let repository = config
            .service(service)
            .ok_or_else(|| RetainError::UnknownService {
                service: service.to_string(),
            })?
            .repository(&config.project);
        let running = self.running().await?;
        let (address, images) = registry.images(&repository).await?;
        let protected = Protected {
            running: running_digests(running, &address, &repository, &images),
            pushed: pushed.clone(),
        };
        let environments: Vec<String> =
            config.environments.iter().map(|e| e.name.clone()).collect();
        let policy = Policy {
            environments: &environments,
            prune,
            retain: config.project.retain as usize,
        };
        let mut decisions = retention::decide(&images, &protected, &policy);
        // What the registry cannot do (an OCI registry deletes no tag alone) is kept, saying why.
        registry.feasible(&mut decisions, &images);
        // An image index that stays keeps the manifests it references (multi-arch children,
        // attestations), whatever their own tags say. (A child kept this way may be an index
        // itself: its children are asked for in turn.)
        let mut children = BTreeMap::new();
        let mut asked: BTreeSet<String> = BTreeSet::new();
        while decisions
            .iter()
            .any(|d| matches!(d, Decision::Delete { .. }))
        {
            let staying: Vec<String> = decisions
                .iter()
                .filter(|d| !matches!(d, Decision::Delete { .. }))
                .map(|d| d.digest().to_string())
                .filter(|d| !asked.contains(d))
                .collect();
            if staying.is_empty() {
                break;
            }
            asked.extend(staying.iter().cloned());
            children.extend(
                registry
                    .children(&repository, &staying)
                    .await
                    .map_err(RetainError::Children)?,
            );
            retention::keep_referenced(&mut decisions, &children);
        }
        // Referrers go with their subject and stay with it; never versions of their own.
        let referrers = registry
            .referrers_by_subject(&repository, &images)
            .await
            .map_err(RetainError::Referrers)?;
        let decisions = retention::referrers::follow_subjects(decisions, &referrers);
        if let (true, Some(days)) = (apply, config.project.untagged_expiry_days) {
            registry.expire_untagged(&repository, days).await?;
        }
        let not_done = match apply
            && decisions
                .iter()
                .any(|d| !matches!(d, Decision::Keep { .. }))
        {
            true => {
                // The artifacts in a second call: the indexes that list them are gone by then
                // (ECR refuses the other order; see `retention::referrers`).
                let artifacts: BTreeSet<&str> = referrers
                    .values()
                    .flat_map(|a| a.artifacts.iter().map(String::as_str))
                    .collect();
                let (last, first): (Vec<Decision>, Vec<Decision>) = decisions
                    .iter()
                    .cloned()
                    .partition(|d| artifacts.contains(d.digest()));
                let mut not_done = registry.remove(&repository, &first).await?;
                not_done.extend(registry.remove(&repository, &last).await?);
                not_done
            }
            false => Vec::new(),
        };
        Ok(RepoRetention {
            service: service.to_string(),
            repository: address,
            decisions,
            applied: apply,
            not_done,
        })
    }
}

/// The digests of this repository that ECS runs: references by digest as they are, references by
/// tag resolved through the registry's own tags.
fn running_digests(
    running: &BTreeMap<String, BTreeSet<String>>,
    address: &str,
    repository: &str,
    images: &[Image],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (reference, wheres) in running {
        let r = crate::image::parse(reference);
        // The address the registry reports, or any host with this repository's path: protecting
        // too much is safe, too little is not.
        if r.repository != address
            && !r.repository.ends_with(&format!("/{repository}"))
            && r.repository != repository
        {
            continue;
        }
        let digest = r.digest.or_else(|| {
            let tag = r.tag.unwrap_or_else(|| "latest".into());
            images
                .iter()
                .find(|i| i.tags.contains(&tag))
                .map(|i| i.digest.clone())
        });
        if let Some(d) = digest {
            out.insert(d, wheres.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    out
}

/// `shipit retain`: every image service (or those named), the environments asked for.
pub async fn retain(
    config: std::sync::Arc<Config>,
    registry: &Client,
    ecs: Option<Ecs>,
    envs: &[String],
    services: &[String],
    apply: bool,
) -> Result<Vec<RepoRetention>, crate::Error> {
    for e in envs {
        if !config.environments.iter().any(|x| &x.name == e) {
            let known: Vec<&str> = config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            return Err(crate::Error::bad_input(
                format!("`{e}` is not an environment"),
                Some(format!("the environments are: {}", known.join(", "))),
            ));
        }
    }
    for s in services {
        if config.service(s).is_none_or(|s| !s.image) {
            return Err(crate::Error::bad_input(
                format!("`{s}` is not a service with an image"),
                None,
            ));
        }
    }
    let prune: Vec<String> = match envs.is_empty() {
        true => config.environments.iter().map(|e| e.name.clone()).collect(),
        false => envs.to_vec(),
    };
    let retainer = Retainer::new(config.clone(), ecs);
    let mut out = Vec::new();
    for s in config
        .services
        .iter()
        .filter(|s| s.image && (services.is_empty() || services.contains(&s.name)))
    {
        let result = retainer
            .repository(registry, &s.name, &prune, &BTreeSet::new(), apply)
            .await;
        out.push(result.map_err(|source| crate::Error::Retain {
            service: s.name.clone(),
            source: Box::new(source),
        })?);
    }
    Ok(out)
}
