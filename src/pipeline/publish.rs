//! The build, push and promote stages of one service.
//!
//! One writer per tag. The engine pushes an image once, under its fingerprint tag, and only when
//! that tag is absent; every other tag is *claimed* on the digest the fingerprint tag names
//! ([`Client::claim`]: written only where absent, then read back). A fingerprint tag that names a
//! digest is never pushed over by shipit, and a run that finds its version tag on another digest
//! fails before anything is rolled out.

use std::collections::BTreeMap;
use std::time::Instant;

use super::events::{Event, Outcome, Stage, Status};
use super::failure::{Cause, StageError};
use super::service::Run;
use super::test;
use crate::docker::{BuildRequest, DockerError, Engine};
use crate::fingerprint;
use crate::registry::{Client, PushTarget, RegistryError};

/// Why the image did not get into the registry under its fingerprint tag.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{reference} is not in the registry after the push")]
    Missing { reference: String },
}

/// The image under `fp_tag` after this run: the one already there (a concurrent run of the same
/// inputs pushed first), or `image`, pushed now. The flag says whether this run pushed it.
pub async fn push_fingerprint(
    engine: &Engine,
    registry: &Client,
    target: &PushTarget,
    repository: &str,
    image: &str,
    fp_tag: &str,
) -> Result<(String, bool), PushError> {
    // One run of these inputs at a time pushes from this machine; the next one finds the image
    // pushed, and pushes nothing.
    let _name = engine
        .lock_name(
            &format!("{}:{fp_tag}", target.reference),
            crate::net::push_timeout(),
        )
        .await;
    let read_back = || async { registry.digest(repository, fp_tag).await };
    if let Some(existing) = read_back().await? {
        return Ok((existing, false));
    }
    let reference = target.reference.to_string();
    engine.tag(image, &reference, fp_tag).await?;
    // The engine talks to the registry itself: bounded here, as shipit's own calls are.
    let pushed = tokio::time::timeout(
        crate::net::push_timeout(),
        engine.push(&reference, fp_tag, target.credentials.clone()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(DockerError::Push {
            reference: format!("{}:{fp_tag}", target.reference),
            cause: crate::docker::PushFailure::Deadline {
                within: crate::net::push_timeout(),
            },
        })
    });
    engine
        .untag(&format!("{}:{fp_tag}", target.reference))
        .await;
    // The push left `reference@digest` on the image: without it, the image goes with its last tag.
    engine.forget_pushes(image, &target.reference).await;
    match (pushed, read_back().await?) {
        // Refused (an immutable ECR tag) or raced, but the same inputs are there: use them.
        (Err(_), Some(there)) => Ok((there, false)),
        (Err(e), None) => Err(e.into()),
        (Ok(None), Some(there)) => Ok((there, true)),
        (Ok(Some(ours)), Some(there)) => {
            let mine = ours == there;
            Ok((there, mine))
        }
        (Ok(_), None) => Err(PushError::Missing {
            reference: format!("{}:{fp_tag}", target.reference),
        }),
    }
}

/// After losing a version tag to `winner`: when this run's push moved the fingerprint tag off an
/// image of the same inputs that the winner released, it puts the fingerprint tag back there, so
/// that a version and its fingerprint name one image. Returns what it did, for the report.
pub async fn restore_fingerprint(
    registry: &Client,
    repository: &str,
    fp_tag: &str,
    fingerprint: &str,
    ours: &str,
    winner: &str,
) -> Option<String> {
    if registry.guards_tags() {
        return None; // The registry refuses a second writer: nobody moved the fingerprint tag.
    }
    if registry.digest(repository, fp_tag).await.ok()?.as_deref() != Some(ours) {
        return None;
    }
    let labels = registry.labels(repository, winner).await.ok()??;
    if labels.get("dev.shipit.fingerprint").map(String::as_str) != Some(fingerprint) {
        return None;
    }
    registry
        .retag(repository, winner, fp_tag, true)
        .await
        .ok()?;
    Some(format!("{fp_tag} names {winner} again"))
}

/// The tag this run's engine pushed an image under, and the image's fingerprint.
#[derive(Clone, Copy)]
pub(super) struct Pushed<'a> {
    pub(super) tag: &'a str,
    pub(super) fingerprint: &'a str,
}

impl Run<'_> {
    pub(super) async fn build_and_push(
        &mut self,
    ) -> Result<(Option<String>, Vec<String>), Outcome> {
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
        let service = plan.name.clone();
        // `--assemble` of a service with `platforms` builds nothing: no engine is needed.
        let assembles = self.options.legs == super::Legs::Assemble && !build.platforms.is_empty();
        let engine = match &self.ctx.engine {
            Some(engine) => Some(engine),
            None if assembles => None,
            None => return Err(self.fail(Stage::Build, started, StageError::NoEngine { service })),
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
        let secrets = match build_secrets(&self.ctx.env, &plan.name, &build.secrets) {
            Ok(s) => s,
            Err(error) => return Err(self.fail(Stage::Build, started, error)),
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
                platform: None,
                committed: self.ctx.commit.as_ref().map(|commit| {
                    crate::docker::context::Committed {
                        root: root.clone(),
                        commit: commit.clone(),
                        context: build.context.clone(),
                        dockerfile: build.dockerfile.clone(),
                        artifacts: self
                            .ctx
                            .config
                            .service(&plan.name)
                            .map_or_else(Vec::new, |s| {
                                s.artifacts.iter().map(|a| s.join(a)).collect()
                            }),
                    }
                }),
            };
        if !build.platforms.is_empty() {
            return self
                .build_platforms(engine, request, &build.platforms, fingerprint, started)
                .await;
        }
        let Some(engine) = engine else {
            return Err(self.fail(Stage::Build, started, StageError::NoEngine { service }));
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
            Err(e) => {
                let error = StageError::Build {
                    service,
                    image: self.repository(),
                    why: Cause::new(e),
                };
                return Err(self.fail(Stage::Build, started, error));
            }
        };
        self.finish(Stage::Build, Status::Ok, started, short_id(&image));

        let Some((started, registry)) = self.start_push()? else {
            return Ok((None, Vec::new()));
        };
        let repository = self.repository();
        let push_failed = |why: Cause| StageError::Push {
            service: plan.name.clone(),
            image: repository.clone(),
            why,
        };
        let result: Result<(String, Vec<String>, Option<super::attest::Attached>), StageError> =
            async {
                // The SBOM before anything is pushed: a service's own file that is no
                // CycloneDX stops the release here.
                let prepared = self
                    .prepare_attestations()
                    .await
                    .map_err(|e| push_failed(Cause::new(e)))?;
                let target = registry
                    .push_target(&repository, &self.ctx.config)
                    .await
                    .map_err(|e| push_failed(Cause::new(e)))?;
                if let Some(password) = target.credentials.as_ref().and_then(|c| c.password.clone())
                {
                    (self.sink)(Event::Secret(password));
                }
                // The engine pushes the image once, under its fingerprint tag (its `dirty-` tag, or
                // its version when the fingerprint tag names another image), unless that tag names an
                // image already; every other tag is claimed in the registry on that digest.
                let fp_tag = fingerprint::tag(fingerprint);
                let push_tag = plan.push_tag().unwrap_or(&fp_tag).to_string();
                let (digest, ours) =
                    push_fingerprint(engine, &registry, &target, &repository, &image, &push_tag)
                        .await
                        .map_err(|e| push_failed(Cause::new(e)))?;
                let tags = self
                    .add_tags(
                        &registry,
                        &repository,
                        &digest,
                        ours.then_some(Pushed {
                            tag: &push_tag,
                            fingerprint,
                        }),
                    )
                    .await?;
                // What this run pushed gets its provenance and SBOM (an image another run pushed
                // has its own). A dirty build is not what any commit says: no provenance, no
                // signature, nothing that a verified environment would take as evidence.
                let dirty = push_tag == crate::plan::dirty_tag(fingerprint);
                let attached = match ours && !dirty {
                    true => Some(
                        self.attest(&registry, &repository, &digest, prepared)
                            .await
                            .map_err(|e| push_failed(Cause::new(e)))?,
                    ),
                    false => None,
                };
                // Signed after its attestations (an image another run pushed: only when this
                // key's signature is not on it yet).
                if !dirty {
                    self.sign(&registry, &repository, &digest, !ours)
                        .await
                        .map_err(push_failed)?;
                }
                Ok((digest, tags, attached))
            }
            .await;
        engine.untag(&local).await;
        match result {
            Ok((digest, tags, attached)) => {
                let attached = attached.map_or_else(String::new, |a| {
                    format!(
                        " (provenance {}, SBOM {})",
                        short_digest(&a.provenance),
                        short_digest(&a.sbom)
                    )
                });
                self.finish(
                    Stage::Push,
                    Status::Ok,
                    started,
                    match tags.is_empty() {
                        true => format!(
                            "{} was released by another run first{attached}",
                            short_digest(&digest)
                        ),
                        false => format!("{} {}{attached}", tags.join(" "), short_digest(&digest)),
                    },
                );
                Ok((Some(digest), tags))
            }
            Err(error) => Err(self.fail(Stage::Push, started, error)),
        }
    }

    /// The registry login the engine pulls `cache_from` images with (none when the plan names no
    /// cache image or the registry gives none).
    pub(super) async fn cache_credentials(
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
            out.insert(target.reference.host().to_string(), credentials);
        }
        out
    }

    /// The plan's tags (the fingerprint's included) on `digest`, each claimed by one writer;
    /// `latest` moves, last. Returns the tags this run wrote: none when another run of the same
    /// inputs released them first. `pushed`: this run pushed the fingerprint tag (with this
    /// fingerprint), so a lost version tag may mean it moved the fingerprint tag (see
    /// [`restore_fingerprint`]).
    pub(super) async fn add_tags(
        &self,
        registry: &Client,
        repository: &str,
        digest: &str,
        pushed: Option<Pushed<'_>>,
    ) -> Result<Vec<String>, StageError> {
        let push_failed = |e: RegistryError| StageError::Push {
            service: self.plan.name.clone(),
            image: repository.to_string(),
            why: Cause::new(e),
        };
        let mut added = Vec::new();
        let (latest, claimed): (Vec<&String>, Vec<&String>) =
            self.plan.tags.iter().partition(|t| *t == "latest");
        for tag in claimed {
            match registry.claim(repository, digest, tag).await {
                Ok(true) => added.push(tag.clone()),
                Ok(false) if tag.starts_with("fp-") || pushed.is_some_and(|p| p.tag == tag) => {
                    added.push(tag.clone())
                }
                Ok(false) => {}
                Err(RegistryError::TagExists {
                    repository: name,
                    tag,
                    existing,
                    wanted,
                }) => {
                    let restored = match pushed {
                        Some(p) if p.tag.starts_with("fp-") => {
                            restore_fingerprint(
                                registry,
                                repository,
                                p.tag,
                                p.fingerprint,
                                digest,
                                &existing,
                            )
                            .await
                        }
                        _ => None,
                    };
                    return Err(StageError::TagTaken {
                        service: self.plan.name.clone(),
                        reference: format!("{name}:{tag}"),
                        existing,
                        wanted,
                        restored,
                    });
                }
                Err(e) => return Err(push_failed(e)),
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
                .map_err(push_failed)?;
            added.push(tag.clone());
        }
        Ok(added)
    }

    /// Signs `digest` when the environment signs (`sign`): always after a push, and after a
    /// promotion only when no signature by this key over the digest is attached yet.
    pub(super) async fn sign(
        &self,
        registry: &Client,
        repository: &str,
        digest: &str,
        promotion: bool,
    ) -> Result<(), Cause> {
        let Some(signer) = &self.ctx.signer else {
            return Ok(());
        };
        let name = registry
            .repository(repository)
            .await
            .map_err(Cause::new)?
            .to_string();
        super::verify::sign_image(registry, signer, repository, &name, digest, promotion)
            .await
            .map(drop)
            .map_err(Cause::new)
    }

    /// Starts the push stage: `None` when `--skip push` leaves it out, else when it started and the
    /// registry it pushes to.
    pub(super) fn start_push(
        &mut self,
    ) -> Result<Option<(Instant, std::sync::Arc<Client>)>, Outcome> {
        if self.options.skip.contains(&Stage::Push) {
            self.skipped(Stage::Push, "--skip push");
            return Ok(None);
        }
        let started = Instant::now();
        self.emit_start(Stage::Push);
        match self.ctx.registry.clone() {
            Some(registry) => Ok(Some((started, registry))),
            None => {
                let service = self.plan.name.clone();
                Err(self.fail(Stage::Push, started, StageError::NoRegistry { service }))
            }
        }
    }

    pub(super) async fn promote(&mut self) -> Result<(Option<String>, Vec<String>), Outcome> {
        self.skipped(Stage::Build, "promoted: the same inputs were built before");
        let Some((started, registry)) = self.start_push()? else {
            return Ok((None, Vec::new()));
        };
        let Some(digest) = self.plan.digest.clone() else {
            let service = self.plan.name.clone();
            return Err(self.fail(
                Stage::Push,
                started,
                StageError::NothingToPromote { service },
            ));
        };
        let repository = self.repository();
        let promoted = match self.add_tags(&registry, &repository, &digest, None).await {
            Ok(tags) => self
                .sign(&registry, &repository, &digest, true)
                .await
                .map(|_| tags)
                .map_err(|why| StageError::Push {
                    service: self.plan.name.clone(),
                    image: repository.clone(),
                    why,
                }),
            Err(error) => Err(error),
        };
        match promoted {
            Ok(tags) => {
                self.finish(
                    Stage::Push,
                    Status::Ok,
                    started,
                    format!("{} {} (promoted)", tags.join(" "), short_digest(&digest)),
                );
                Ok((Some(digest), tags))
            }
            Err(error) => Err(self.fail(Stage::Push, started, error)),
        }
    }
}

/// The values of a build's secrets (`ID = "env:VAR"`), read from the environment now. (The
/// release's pre-flight refused to start with one unset: see [`unset_secrets`].)
fn build_secrets(
    env: &crate::github::Env,
    service: &str,
    sources: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, StageError> {
    if let Some((id, var)) = unset_secrets(env, sources).into_iter().next() {
        return Err(StageError::BuildSecret {
            service: service.to_string(),
            id: id.to_string(),
            var: var.to_string(),
        });
    }
    Ok(sources
        .iter()
        .map(|(id, source)| {
            let value = env
                .var(secret_variable(source))
                .unwrap_or_default()
                .to_string();
            (id.clone(), value)
        })
        .collect())
}

/// The environment variable a secret's source (`env:VAR`) names.
pub(super) fn secret_variable(source: &str) -> &str {
    source.strip_prefix("env:").unwrap_or(source)
}

/// The build secrets whose variable is not set (or not Unicode): (id, variable).
pub fn unset_secrets<'a>(
    env: &crate::github::Env,
    sources: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str)> {
    sources
        .iter()
        .map(|(id, source)| (id.as_str(), secret_variable(source)))
        .filter(|(_, var)| env.var(var).is_none())
        .collect()
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

pub fn short_digest(digest: &str) -> String {
    format!("sha256:{}", short_id(digest))
}
