//! The provenance and SBOM of an image this run pushed, attached to it in the registry as OCI
//! referrers (subject: the image's manifest digest). Made from what shipit knows (see
//! [`crate::attest`]); a promotion keeps the digest, so it attaches nothing new.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::service::Run;
use crate::attest::{provenance, sbom};
use crate::build_inputs::BuildInputs;
use crate::env_vars;
use crate::git::Repo;
use crate::registry::{Client, RegistryError};

/// What was attached to one image: the artifact manifests' digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub provenance: String,
    pub sbom: String,
}

/// Why the attestations of a pushed image are not in the registry.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("attaching the provenance and SBOM to {image}: {source}")]
    Registry {
        image: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(
        "the SBOM {path} (`sbom` of {service}) cannot be attached: {why}; the test command must write a CycloneDX JSON file there"
    )]
    Sbom {
        service: String,
        path: String,
        #[source]
        why: SbomFile,
    },
    #[error("reading the lockfiles of {service} for its SBOM: {source}")]
    Lockfiles {
        service: String,
        #[source]
        source: Box<crate::git::GitError>,
    },
    #[error("the commit {commit} being released is not a commit id: {source}")]
    Commit {
        commit: String,
        #[source]
        source: git2::Error,
    },
    /// `sign`: the provenance could not be signed, or its bundle attached.
    #[error("signing the provenance of {image}: {source}")]
    Sign {
        image: String,
        #[source]
        source: Box<super::verify::SignError>,
    },
}

/// Why a service's own SBOM file cannot be attached.
#[derive(Debug, thiserror::Error)]
pub enum SbomFile {
    #[error("{0}")]
    Read(crate::limits::ReadError),
    #[error("{0}")]
    Format(sbom::SbomError),
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What is made before the push: the SBOM (a service's own file is checked then, so that a bad
/// one stops the release before anything is pushed) and the base images.
pub struct Prepared {
    sbom: Vec<u8>,
    base_images: Vec<provenance::BaseImage>,
    started_on: String,
}

impl Run<'_> {
    /// The SBOM and base images of the image about to be pushed.
    pub(super) async fn prepare_attestations(&self) -> Result<Prepared, AttestError> {
        let started_on = now();
        let base_images = self.base_images().await;
        let sbom = self.sbom(base_images.clone(), started_on.clone())?;
        Ok(Prepared {
            sbom,
            base_images,
            started_on,
        })
    }

    /// Makes the provenance of the image `digest` this run pushed to `repository`, and attaches
    /// it and the SBOM to it.
    pub(super) async fn attest(
        &self,
        registry: &Client,
        repository: &str,
        digest: &str,
        prepared: Prepared,
    ) -> Result<Attached, AttestError> {
        let image = format!("{repository}@{digest}");
        let reg = |source| AttestError::Registry {
            image: image.clone(),
            source: Box::new(source),
        };
        let address = registry.repository(repository).await.map_err(reg)?;
        let inputs = self
            .provenance_inputs(prepared.base_images, prepared.started_on)
            .await;
        let statement =
            provenance::statement(&[(address.to_string(), digest.to_string())], &inputs);
        let subject = registry.descriptor(repository, digest).await.map_err(reg)?;
        let annotations = BTreeMap::new();
        let provenance = registry
            .attach(
                repository,
                &subject,
                provenance::ARTIFACT_TYPE,
                provenance::ARTIFACT_TYPE,
                Bytes::from(statement.to_json()),
                &annotations,
            )
            .await
            .map_err(reg)?;
        // With signing on, the provenance is signed too (its own bundle), so that
        // `verify = "provenance"` can trust what it says.
        if let Some(signer) = &self.ctx.signer {
            super::verify::sign_statement(
                registry,
                signer,
                repository,
                digest,
                &statement.to_json(),
                provenance::PREDICATE_TYPE,
            )
            .await
            .map_err(|e| AttestError::Sign {
                image: image.clone(),
                source: Box::new(e),
            })?;
        }
        let sbom = registry
            .attach(
                repository,
                &subject,
                sbom::ARTIFACT_TYPE,
                sbom::ARTIFACT_TYPE,
                Bytes::from(prepared.sbom),
                &annotations,
            )
            .await
            .map_err(reg)?;
        Ok(Attached { provenance, sbom })
    }

    /// The Dockerfile's base images, with the digest the engine pulled where it has one.
    async fn base_images(&self) -> Vec<provenance::BaseImage> {
        let Some(build) = &self.plan.build else {
            return Vec::new();
        };
        let text = std::fs::read_to_string(self.ctx.config.root.join(&build.dockerfile))
            .unwrap_or_default();
        let mut out = Vec::new();
        for reference in crate::docker::dockerfile::base_images(&text, &build.build_args) {
            let digest = match &self.ctx.engine {
                Some(engine) => engine.repo_digest(&reference).await,
                None => None,
            };
            out.push(provenance::BaseImage { reference, digest });
        }
        out
    }

    /// What the provenance says, from the plan, the labels, ci.toml, the engine and, under
    /// GitHub Actions, the run.
    async fn provenance_inputs(
        &self,
        base_images: Vec<provenance::BaseImage>,
        started_on: String,
    ) -> provenance::Inputs {
        let env = &self.ctx.env;
        let labels = &self.ctx.labels;
        let build = self.plan.build.as_ref();
        let ci_toml = std::fs::read(&self.ctx.config.file)
            .map(|b| crate::registry::digest_of(&b))
            .unwrap_or_default();
        let git_ref = env
            .get(env_vars::GITHUB_REF)
            .map(str::to_string)
            .or_else(|| {
                Repo::discover(&self.ctx.config.root)
                    .ok()
                    .and_then(|r| r.current_branch())
                    .map(|b| format!("refs/heads/{b}"))
            })
            .unwrap_or_default();
        let workflow = env.in_actions().then(|| {
            let run_id = env.get(env_vars::GITHUB_RUN_ID).unwrap_or("").to_string();
            let run_attempt = env
                .get(env_vars::GITHUB_RUN_ATTEMPT)
                .unwrap_or("1")
                .to_string();
            let run_url = match (
                env.get(env_vars::GITHUB_SERVER_URL),
                env.get(env_vars::GITHUB_REPOSITORY),
            ) {
                (Some(server), Some(repo)) if !run_id.is_empty() => {
                    format!("{server}/{repo}/actions/runs/{run_id}/attempts/{run_attempt}")
                }
                _ => String::new(),
            };
            provenance::Workflow {
                workflow_ref: env
                    .get(env_vars::GITHUB_WORKFLOW_REF)
                    .unwrap_or("")
                    .to_string(),
                run_id,
                run_attempt,
                run_url,
            }
        });
        let engine_version = match &self.ctx.engine {
            Some(engine) => engine.version().await.unwrap_or_default(),
            None => String::new(),
        };
        provenance::Inputs {
            source: provenance::Source {
                repository: labels
                    .get("org.opencontainers.image.source")
                    .cloned()
                    .unwrap_or_default(),
                git_ref,
                commit: labels
                    .get(crate::plan::REVISION_LABEL)
                    .cloned()
                    .unwrap_or_default(),
            },
            workflow,
            service: self.plan.name.clone(),
            fingerprint: self.plan.fingerprint.clone().unwrap_or_default(),
            ci_toml,
            dockerfile: build.map(|b| b.dockerfile.clone()).unwrap_or_default(),
            context: build.map(|b| b.context.clone()).unwrap_or_default(),
            target: build.and_then(|b| b.target.clone()),
            build_args: build
                .map(|b| b.build_args.keys().cloned().collect())
                .unwrap_or_default(),
            secrets: build
                .map(|b| b.secrets.keys().cloned().collect())
                .unwrap_or_default(),
            base_images,
            engine_version,
            started_on,
        }
    }

    /// The SBOM: the service's own file (`sbom`), checked, or one made from the lockfiles its
    /// build copies and its base images.
    fn sbom(
        &self,
        base_images: Vec<provenance::BaseImage>,
        timestamp: String,
    ) -> Result<Vec<u8>, AttestError> {
        let config = &self.ctx.config;
        let own = config
            .service(&self.plan.name)
            .and_then(|s| s.sbom.as_ref().map(|path| (s, path)));
        if let Some((service, path)) = own {
            let file = config.root.join(service.join(path));
            let refuse = |why: SbomFile| AttestError::Sbom {
                service: service.name.clone(),
                path: file.display().to_string(),
                why,
            };
            let text = crate::limits::read_to_string(&file, crate::limits::BLOB as u64)
                .map_err(|e| refuse(SbomFile::Read(e)))?;
            sbom::check_cyclonedx(text.as_bytes()).map_err(|e| refuse(SbomFile::Format(e)))?;
            return Ok(text.into_bytes());
        }
        let packages = self.lockfile_packages()?;
        let subject = sbom::Subject {
            service: self.plan.name.clone(),
            version: self
                .plan
                .next_version
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            base_images: base_images
                .into_iter()
                .map(|b| (b.reference, b.digest))
                .collect(),
            timestamp,
        };
        Ok(sbom::document(&subject, &packages))
    }

    /// The packages of every lockfile the service's build copies (from the commit being
    /// released; the working tree's HEAD for a dirty build).
    fn lockfile_packages(&self) -> Result<Vec<sbom::Package>, AttestError> {
        let config = &self.ctx.config;
        let Some(index) = config
            .services
            .iter()
            .position(|s| s.name == self.plan.name)
        else {
            return Ok(Vec::new());
        };
        let git = |source| AttestError::Lockfiles {
            service: self.plan.name.clone(),
            source: Box::new(source),
        };
        let repo = Repo::discover(&config.root).map_err(git)?;
        let commit = match &self.ctx.commit {
            Some(c) => git2::Oid::from_str(c).map_err(|source| AttestError::Commit {
                commit: c.clone(),
                source,
            })?,
            None => repo.resolve("HEAD").map_err(git)?,
        };
        let inputs = BuildInputs::new(config, &[index], |files| repo.read_files(commit, files))
            .map_err(git)?;
        let mut scratch = crate::glob::Scratch::default();
        let mut packages = Vec::new();
        for entry in repo.tree_entries(commit).map_err(git)? {
            if !sbom::is_lockfile(&entry.path) {
                continue;
            }
            let mut copied = false;
            inputs.for_each(&entry.path, &mut scratch, |_| copied = true);
            if !copied {
                continue;
            }
            let Some(bytes) = repo.read_file(commit, &entry.path).map_err(git)? else {
                continue;
            };
            packages.extend(sbom::packages(
                &entry.path,
                &String::from_utf8_lossy(&bytes),
            ));
        }
        Ok(packages)
    }
}
