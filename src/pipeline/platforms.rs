//! The build and push of a service with `platforms`: one build per platform through the engine,
//! each image read out of the engine and pushed by digest (no tag of its own: the engine pushes
//! only by tag, and a per-platform tag would last on an immutable ECR repository), then one image
//! index over them, which gets the fingerprint tag and the version tags as a single image does
//! (one writer per tag: [`Client::claim`]).
//!
//! In a matrix (`release --platform P` per native runner, then `release --assemble`), each job
//! pushes its platform's image and records it (`registry::index`); the assembling run builds
//! nothing that is recorded, writes the index and the tags, and deletes the records.

use std::time::Instant;

use super::context::Legs;
use super::events::{Event, Outcome, Stage, Status};
use super::failure::{Cause, StageError};
use super::publish::{Pushed, short_digest};
use super::service::Run;
use super::test;
use crate::docker::{BuildRequest, Engine};
use crate::registry::index::Leg;
use crate::registry::{Client, RegistryError};

/// Why one platform's image did not get into the registry.
#[derive(Debug, thiserror::Error)]
pub enum LegError {
    #[error("{platform}: {source}")]
    Docker {
        platform: String,
        source: crate::docker::DockerError,
    },
    #[error("{platform}: {source}")]
    Export {
        platform: String,
        source: crate::docker::export::ExportError,
    },
    #[error("{platform}: {source}")]
    Registry {
        platform: String,
        source: RegistryError,
    },
}

impl Run<'_> {
    /// Builds (or finds recorded) the image of each platform the run's [`Legs`] ask for, then,
    /// unless this run builds one platform only, puts the index and its tags. The build stage has
    /// started at `started`.
    pub(super) async fn build_platforms(
        &mut self,
        engine: Option<&Engine>,
        request: BuildRequest,
        platforms: &[String],
        fingerprint: &str,
        started: Instant,
    ) -> Result<(Option<String>, Vec<String>), Outcome> {
        let plan = self.plan;
        let service = plan.name.clone();
        let repository = self.repository();
        let push_tag = plan
            .push_tag()
            .map(str::to_string)
            .unwrap_or_else(|| crate::fingerprint::tag(fingerprint));
        let wanted: Vec<String> = match &self.options.legs {
            Legs::One(p) => vec![p.clone()],
            Legs::All | Legs::Assemble => platforms.to_vec(),
        };
        let registry = match self.ctx.registry.clone() {
            Some(r) if !self.options.skip.contains(&Stage::Push) => Some(r),
            _ => None,
        };
        let push_failed = |why: Cause| StageError::Push {
            service: service.clone(),
            image: repository.clone(),
            why,
        };
        // The SBOM before anything is pushed (a service's own file that is no CycloneDX stops the
        // release here), for the index this run will write; a leg alone gets none.
        let prepared = match (&registry, &self.options.legs) {
            (Some(_), Legs::All | Legs::Assemble) => match self.prepare_attestations().await {
                Ok(p) => Some(p),
                Err(e) => return Err(self.fail(Stage::Build, started, push_failed(Cause::new(e)))),
            },
            _ => None,
        };
        // What is recorded already (a job of the matrix, an earlier attempt): reused, not built.
        let mut legs: std::collections::BTreeMap<String, Leg> = Default::default();
        if let Some(registry) = &registry {
            let found = async {
                let target = registry.push_target(&repository, &self.ctx.config).await?;
                if let Some(password) = target.credentials.and_then(|c| c.password) {
                    (self.sink)(Event::Secret(password));
                }
                registry.legs(&repository, &push_tag, &wanted).await
            }
            .await;
            match found {
                Ok(found) => legs = found,
                Err(e) => return Err(self.fail(Stage::Build, started, push_failed(Cause::new(e)))),
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|p| !legs.contains_key(*p))
            .cloned()
            .collect();
        if self.options.legs == Legs::Assemble && !missing.is_empty() {
            let error = StageError::LegsMissing {
                service,
                platforms: missing,
            };
            return Err(self.fail(Stage::Build, started, error));
        }
        let mut built = Vec::new();
        if !missing.is_empty() && engine.is_none() {
            let error = StageError::NoEngine { service };
            return Err(self.fail(Stage::Build, started, error));
        }
        for platform in &missing {
            let Some(engine) = engine else { break };
            let mut leg_request = request.clone();
            leg_request.platform = Some(platform.clone());
            leg_request.tag = format!("{}-{}", request.tag, platform.replace('/', "-"));
            let result = self
                .build_leg(engine, &leg_request, registry.as_deref(), &repository)
                .await;
            engine.untag(&leg_request.tag).await;
            match result {
                Ok(Some(leg)) => {
                    legs.insert(platform.clone(), leg);
                }
                Ok(None) => {}
                Err(LegError::Docker { platform, source }) => {
                    let error = StageError::Build {
                        service,
                        image: repository.clone(),
                        why: Cause::new(LegError::Docker { platform, source }),
                    };
                    return Err(self.fail(Stage::Build, started, error));
                }
                Err(e) => return Err(self.fail(Stage::Build, started, push_failed(Cause::new(e)))),
            }
            built.push(platform.as_str());
        }
        let reused: Vec<&str> = wanted
            .iter()
            .map(String::as_str)
            .filter(|p| !built.contains(p))
            .collect();
        let detail = match reused.is_empty() {
            true => format!("built {}", built.join(", ")),
            false => format!(
                "built {}; pushed before: {}",
                built.join(", "),
                reused.join(", ")
            ),
        };
        self.finish(Stage::Build, Status::Ok, started, detail);

        let Some((started, registry)) = self.start_push()? else {
            return Ok((None, Vec::new()));
        };
        let legs: Vec<Leg> = wanted.iter().filter_map(|p| legs.remove(p)).collect();
        if let Legs::One(_) = self.options.legs {
            let mut recorded = Vec::new();
            for leg in &legs {
                if let Err(e) = registry.record_leg(&repository, &push_tag, leg).await {
                    return Err(self.fail(Stage::Push, started, push_failed(Cause::new(e))));
                }
                recorded.push(format!("{} {}", leg.platform, short_digest(&leg.digest)));
            }
            self.finish(
                Stage::Push,
                Status::Ok,
                started,
                format!(
                    "{} pushed by digest and recorded; `release --assemble` writes the index",
                    recorded.join(", ")
                ),
            );
            return Ok((None, Vec::new()));
        }
        match self
            .put_index(
                &registry,
                &repository,
                &push_tag,
                fingerprint,
                &legs,
                prepared,
            )
            .await
        {
            Ok((digest, tags, forgotten, attached)) => {
                let children: Vec<String> = legs
                    .iter()
                    .map(|l| format!("{} {}", l.platform, short_digest(&l.digest)))
                    .collect();
                let mut detail = match tags.is_empty() {
                    true => format!(
                        "{} was released by another run first",
                        short_digest(&digest)
                    ),
                    false => format!("{} {}", tags.join(" "), short_digest(&digest)),
                };
                detail.push_str(&format!(" (index of {})", children.join(", ")));
                if !attached.is_empty() {
                    detail.push_str(&format!(" ({attached})"));
                }
                if !forgotten.is_empty() {
                    detail.push_str(&format!(
                        "; records not deleted (retention removes them): {}",
                        forgotten.join("; ")
                    ));
                }
                self.finish(Stage::Push, Status::Ok, started, detail);
                Ok((Some(digest), tags))
            }
            Err(error) => Err(self.fail(Stage::Push, started, error)),
        }
    }

    /// One platform's build, read out of the engine and pushed by digest (`None` with no
    /// registry: `--skip push`).
    async fn build_leg(
        &self,
        engine: &Engine,
        request: &BuildRequest,
        registry: Option<&Client>,
        repository: &str,
    ) -> Result<Option<Leg>, LegError> {
        let platform = request.platform.clone().unwrap_or_default();
        let sink = self.sink.clone();
        let name = self.plan.name.clone();
        let mut log_file = test::LogFile::append(self.log);
        let prefix = format!("[{platform}] ");
        let docker = |source| LegError::Docker {
            platform: platform.clone(),
            source,
        };
        let image = engine
            .build(request, |line| {
                log_file.line(&format!("{prefix}{line}"));
                sink(Event::Output {
                    service: name.clone(),
                    stage: Stage::Build,
                    line: format!("{prefix}{line}"),
                });
            })
            .await
            .map_err(docker)?;
        let Some(registry) = registry else {
            return Ok(None);
        };
        let exported = engine
            .export(&image)
            .await
            .map_err(|source| LegError::Export {
                platform: platform.clone(),
                source,
            })?;
        registry
            .push_leg(repository, &platform, exported.config, &exported.layers)
            .await
            .map(Some)
            .map_err(|source| LegError::Registry {
                platform: platform.clone(),
                source,
            })
    }

    /// The index over `legs` under `push_tag` (or the index another run of the same inputs put
    /// there first), the plan's tags on it, and the legs' records deleted. Returns the index's
    /// digest, the tags this run wrote, and the records that could not be deleted.
    async fn put_index(
        &self,
        registry: &Client,
        repository: &str,
        push_tag: &str,
        fingerprint: &str,
        legs: &[Leg],
        prepared: Option<super::attest::Prepared>,
    ) -> Result<(String, Vec<String>, Vec<String>, String), StageError> {
        let push_failed = |e: RegistryError| StageError::Push {
            service: self.plan.name.clone(),
            image: repository.to_string(),
            why: Cause::new(e),
        };
        let index = registry
            .put_index(repository, legs)
            .await
            .map_err(push_failed)?;
        // The fingerprint tag has one writer: a concurrent run of the same inputs that wrote it
        // first has its index used, as a single image's push uses the image already there.
        let (digest, ours) = match registry.claim(repository, &index, push_tag).await {
            Ok(wrote) => (index, wrote),
            Err(RegistryError::TagExists { existing, .. }) => (existing, false),
            Err(e) => return Err(push_failed(e)),
        };
        let pushed = ours.then_some(Pushed {
            tag: push_tag,
            fingerprint,
        });
        let tags = self.add_tags(registry, repository, &digest, pushed).await?;
        // The index this run wrote gets its provenance and SBOM, as a single image does.
        let attached = match (ours, prepared) {
            (true, Some(prepared)) => {
                let a = self
                    .attest(registry, repository, &digest, prepared)
                    .await
                    .map_err(|e| StageError::Push {
                        service: self.plan.name.clone(),
                        image: repository.to_string(),
                        why: Cause::new(e),
                    })?;
                format!(
                    "provenance {}, SBOM {}",
                    short_digest(&a.provenance),
                    short_digest(&a.sbom)
                )
            }
            _ => String::new(),
        };
        // Signed after its attestations, as a single image is (an index another run wrote: only
        // when this key's signature is not on it yet).
        self.sign(registry, repository, &digest, !ours)
            .await
            .map_err(|why| StageError::Push {
                service: self.plan.name.clone(),
                image: repository.to_string(),
                why,
            })?;
        let platforms: Vec<String> = legs.iter().map(|l| l.platform.clone()).collect();
        let forgotten = registry
            .forget_legs(repository, push_tag, &platforms)
            .await
            .unwrap_or_else(|e| vec![e.to_string()]);
        Ok((digest, tags, forgotten, attached))
    }
}
