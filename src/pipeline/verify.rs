//! `verify` before a rollout and `sign` after a push: the registry's side of [`crate::sign`].
//!
//! Before a rollout (a release's rollout stage, `shipit deploy`), every image it would put in a
//! task definition is resolved to its digest, and the bundles attached to that digest are judged
//! ([`crate::sign::check::decide`]) against the environment's trust anchor; one image refused
//! refuses the whole rollout, before anything is registered. What passes is pinned: the task
//! definition names `HOST/REPO@sha256:DIGEST`, the digest that was checked.

use std::collections::BTreeMap;

use p256::ecdsa::VerifyingKey;

use super::rollout::Request;
use crate::config::{Config, Environment, Policy, Signing, TrustAnchor};
use crate::registry::{Client, RegistryError};
use crate::sign::check::{self, Anchor, Expected, Facts, FactsError, Refusal};
use crate::sign::keyless::{self, Identity};
use crate::sign::kms::{KmsError, KmsKey};
use crate::sign::root::{RootError, TrustedRoot};
use crate::sign::sigstore::{Keyless, KeylessSignError};
use crate::sign::{KeyError, Referrers, Signer, SignerError, bundle};

/// The image label naming the commit an image was built from.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// The image label naming the fingerprint of its inputs.
pub const FINGERPRINT: &str = "dev.shipit.fingerprint";

/// What an environment's images are checked against.
#[derive(Debug, Clone)]
pub struct Trust {
    pub environment: String,
    pub policy: Policy,
    pub anchor: Anchor,
    /// This repository, as a provenance must name it.
    pub repository: String,
}

/// The commit an image must have been built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// This commit (an image built by this release).
    Exactly(String),
    /// The commit its revision label names; when a fingerprint is given, its inputs must be these
    /// (a promotion or a skip of a release: the same inputs built from an earlier commit).
    Labelled { fingerprint: Option<String> },
}

/// Why an image may not be rolled out, or the check could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VerifyError {
    #[error("{service}: {image} ({digest}) is not verified for {environment}: {refusal}")]
    #[diagnostic(help(
        "nothing was registered or updated; roll out an image this repository's pipeline signed (`shipit plan` shows what a release would ship)"
    ))]
    Refused {
        environment: String,
        service: String,
        image: String,
        digest: String,
        refusal: Refusal,
    },
    #[error("{service}: {image} is not in the registry: there is nothing to verify")]
    NotThere { service: String, image: String },
    #[error("{environment} verifies its images, and there is no registry to read them from")]
    NoRegistry { environment: String },
    #[error(
        "{service}: {image} ({digest}) is not verified for {environment}: it has no `{REVISION}` label, so the commit it was built from is unknown"
    )]
    NoRevision {
        environment: String,
        service: String,
        image: String,
        digest: String,
    },
    #[error(
        "{service}: {image} ({digest}) is not verified for {environment}: it was built from {found}, not {wanted}"
    )]
    OtherCommit {
        environment: String,
        service: String,
        image: String,
        digest: String,
        found: String,
        wanted: String,
    },
    #[error("cannot verify {service}'s {image}: {cause}")]
    Registry {
        service: String,
        image: String,
        cause: RegistryError,
    },
    #[error("the trust anchor of {environment}: {cause}")]
    #[diagnostic(help(
        "set `verify_key` of the environment to a PEM public key in the repository (cosign.pub) or a KMS key ARN"
    ))]
    Key {
        environment: String,
        cause: KeyError,
    },
    #[error("the trust anchor of {environment}: {cause}")]
    Kms {
        environment: String,
        cause: KmsError,
    },
    #[error("signing in {environment} with {signing}: {cause}")]
    #[diagnostic(help(
        "set the variable to an unencrypted ECDSA P-256 private key in PEM (a secret of the workflow)"
    ))]
    SigningKey {
        environment: String,
        signing: String,
        cause: KeyError,
    },
    #[error("signing keyless in {environment}: {cause}")]
    #[diagnostic(help(
        "run the release in GitHub Actions with `permissions: id-token: write` on the job, or sign with a key (`sign = {{ key = \"env:VAR\" }}`)"
    ))]
    Keyless {
        environment: String,
        cause: KeylessSignError,
    },
    #[error("the trusted root {path} of {environment}: {cause}")]
    #[diagnostic(help(
        "name the Sigstore instance's trusted_root.json (from its TUF repository), a file in the repository"
    ))]
    TrustedRoot {
        environment: String,
        path: String,
        cause: TrustedRootError,
    },
    #[error(
        "{environment} verifies keyless signatures, and this repository's address is unknown, so which workflows may sign is too"
    )]
    #[diagnostic(help(
        "set `verify_identity = {{ subject = \"https://github.com/OWNER/REPO/.github/workflows/*\" }}` for the environment"
    ))]
    NoIdentity { environment: String },
}

/// Why a trusted root file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    #[error("{0}")]
    Read(crate::limits::ReadError),
    #[error("{0}")]
    Format(RootError),
}

impl VerifyError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            VerifyError::Key { .. }
            | VerifyError::SigningKey { .. }
            | VerifyError::TrustedRoot { .. }
            | VerifyError::NoIdentity { .. } => true,
            VerifyError::Keyless { cause, .. } => cause.is_bad_input(),
            VerifyError::Kms { cause, .. } => cause.is_bad_input(),
            VerifyError::Registry { cause, .. } => cause.is_bad_input(),
            VerifyError::Refused { .. }
            | VerifyError::NotThere { .. }
            | VerifyError::NoRegistry { .. }
            | VerifyError::NoRevision { .. }
            | VerifyError::OtherCommit { .. } => false,
        }
    }
}

/// The signer of `env`, when it signs: a key from its variable (bad input when unset or not a
/// key), or a KMS key (its public key read now).
pub async fn signer(
    env: &Environment,
    vars: &crate::github::Env,
) -> Result<Option<Signer>, Box<VerifyError>> {
    let Some(signing) = &env.sign else {
        return Ok(None);
    };
    match signing {
        Signing::Key { var } => {
            let failed = |cause| VerifyError::SigningKey {
                environment: env.name.clone(),
                signing: signing.describe(),
                cause,
            };
            let pem = vars
                .get(var)
                .ok_or_else(|| failed(KeyError::Unset { var: var.clone() }))?;
            let key = crate::sign::Key::from_pem(pem, var).map_err(failed)?;
            Ok(Some(Signer::Key(key)))
        }
        Signing::Kms { arn } => {
            let sdk = crate::aws::sdk_config()
                .await
                .map_err(|e| VerifyError::Kms {
                    environment: env.name.clone(),
                    cause: e.into(),
                })?;
            let key = KmsKey::open(&sdk, arn)
                .await
                .map_err(|cause| VerifyError::Kms {
                    environment: env.name.clone(),
                    cause,
                })?;
            Ok(Some(Signer::Kms(key)))
        }
        Signing::Keyless { fulcio, rekor, .. } => Keyless::new(
            fulcio,
            rekor,
            vars.get(crate::env_vars::ACTIONS_ID_TOKEN_REQUEST_URL),
            vars.get(crate::env_vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN),
        )
        .map(|k| Some(Signer::Keyless(k)))
        .map_err(|cause| {
            Box::new(VerifyError::Keyless {
                environment: env.name.clone(),
                cause,
            })
        }),
    }
}

/// The trusted root at `path` in the repository, or the public-good instance's.
fn trusted_root(
    config: &Config,
    env: &Environment,
    path: Option<&str>,
) -> Result<TrustedRoot, Box<VerifyError>> {
    let Some(path) = path else {
        return Ok(crate::sign::root::public_good());
    };
    let failed = |cause| VerifyError::TrustedRoot {
        environment: env.name.clone(),
        path: path.to_string(),
        cause,
    };
    let bytes = crate::limits::read_to_string(&config.root.join(path), crate::limits::TRUSTED_ROOT)
        .map_err(|e| failed(TrustedRootError::Read(e)))?;
    crate::sign::root::parse(bytes.as_bytes())
        .map_err(|e| Box::new(failed(TrustedRootError::Format(e))))
}

/// The subject every workflow of `repository` (`https://github.com/o/r`, a remote URL) signs
/// with: `https://HOST/OWNER/REPO/.github/workflows/*`.
pub fn workflows_of(repository: &str) -> Option<String> {
    let (host, path) = check::split_repository(repository);
    if path.split('/').count() != 2 {
        return None;
    }
    let host = if host.is_empty() {
        "github.com".to_string()
    } else {
        host
    };
    Some(format!("https://{host}/{path}/.github/workflows/*"))
}

/// The trust anchor of `env`, when it verifies; `signer` is the environment's own (for
/// `TrustAnchor::Signer`). `repository` is this repository, as provenance names it.
pub async fn trust(
    config: &Config,
    env: &Environment,
    signer: Option<&Signer>,
    vars: &crate::github::Env,
    repository: &str,
) -> Result<Option<Trust>, Box<VerifyError>> {
    let Some(v) = &env.verify else {
        return Ok(None);
    };
    let anchor = match &v.anchor {
        TrustAnchor::Identity(i) => {
            let root = trusted_root(config, env, i.trusted_root.as_deref())?;
            let subject = match &i.subject {
                Some(s) => s.clone(),
                None => workflows_of(repository).ok_or_else(|| VerifyError::NoIdentity {
                    environment: env.name.clone(),
                })?,
            };
            Anchor::Identity(Box::new(keyless::Policy {
                root,
                identity: Identity {
                    issuer: i.issuer.clone(),
                    subject,
                },
            }))
        }
        other => Anchor::Key(key(config, env, other, signer, vars).await?),
    };
    Ok(Some(Trust {
        environment: env.name.clone(),
        policy: v.policy,
        anchor,
        repository: repository.to_string(),
    }))
}

/// The public key of a trust anchor that is a key.
async fn key(
    config: &Config,
    env: &Environment,
    anchor: &TrustAnchor,
    signer: Option<&Signer>,
    vars: &crate::github::Env,
) -> Result<VerifyingKey, Box<VerifyError>> {
    let key_error = |cause| VerifyError::Key {
        environment: env.name.clone(),
        cause,
    };
    let unset = || {
        Box::new(key_error(KeyError::Unset {
            var: "verify_key".into(),
        }))
    };
    Ok(match anchor {
        TrustAnchor::File(path) => {
            let text =
                crate::limits::read_to_string(&config.root.join(path), crate::limits::PUBLIC_KEY)
                    .map_err(|cause| {
                    key_error(KeyError::Read {
                        path: path.clone(),
                        cause,
                    })
                })?;
            crate::sign::public_key_from_pem(&text, path).map_err(key_error)?
        }
        TrustAnchor::Kms(arn) => {
            let sdk = crate::aws::sdk_config()
                .await
                .map_err(|e| VerifyError::Kms {
                    environment: env.name.clone(),
                    cause: e.into(),
                })?;
            crate::sign::kms::public_key(&aws_sdk_kms::Client::new(&sdk), arn)
                .await
                .map_err(|cause| VerifyError::Kms {
                    environment: env.name.clone(),
                    cause,
                })?
        }
        TrustAnchor::Signer => match signer {
            Some(s) => s.verifying().ok_or_else(unset)?,
            None => match signer_for_trust(env, vars).await? {
                Some(s) => s.verifying().ok_or_else(unset)?,
                None => return Err(unset()),
            },
        },
        TrustAnchor::Identity(_) => return Err(unset()),
    })
}

async fn signer_for_trust(
    env: &Environment,
    vars: &crate::github::Env,
) -> Result<Option<Signer>, Box<VerifyError>> {
    Box::pin(signer(env, vars)).await
}

/// How a provenance statement reads: this repository and the commit it names.
pub type ReadFacts = dyn Fn(&[u8]) -> Result<Facts, FactsError> + Send + Sync;

/// What a provenance statement (shipit's in-toto Statement v1 with a SLSA provenance v1 predicate,
/// [`crate::attest::provenance::Statement`]) says of the source: its repository and commit.
pub fn read_facts(payload: &[u8]) -> Result<Facts, FactsError> {
    let statement = crate::attest::provenance::Statement::parse(payload)?;
    Ok(Facts {
        repository: statement.repository().map(str::to_string),
        commit: statement.commit().map(str::to_string),
    })
}

/// The judgement of one image, from what the registry holds: pure.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    trust: &Trust,
    service: &str,
    image: &str,
    digest: &str,
    labels: &BTreeMap<String, String>,
    commit: &Commit,
    bundles: &[Vec<u8>],
    facts: &ReadFacts,
) -> Result<check::Verified, Box<VerifyError>> {
    let built_from = labels.get(REVISION).cloned();
    let wanted = match commit {
        Commit::Exactly(c) => c.clone(),
        Commit::Labelled { fingerprint } => {
            if let Some(fp) = fingerprint
                && labels.get(FINGERPRINT) != Some(fp)
            {
                return Err(Box::new(VerifyError::OtherCommit {
                    environment: trust.environment.clone(),
                    service: service.into(),
                    image: image.into(),
                    digest: digest.into(),
                    found: format!(
                        "inputs {}",
                        labels.get(FINGERPRINT).map_or("unknown", String::as_str)
                    ),
                    wanted: format!("the released inputs {fp}"),
                }));
            }
            match &built_from {
                Some(c) => c.clone(),
                None if trust.policy == Policy::Signature => String::new(),
                None => {
                    return Err(Box::new(VerifyError::NoRevision {
                        environment: trust.environment.clone(),
                        service: service.into(),
                        image: image.into(),
                        digest: digest.into(),
                    }));
                }
            }
        }
    };
    if trust.policy == Policy::Provenance
        && let Commit::Exactly(c) = commit
        && built_from.as_deref() != Some(c.as_str())
    {
        return Err(Box::new(VerifyError::OtherCommit {
            environment: trust.environment.clone(),
            service: service.into(),
            image: image.into(),
            digest: digest.into(),
            found: built_from.unwrap_or_else(|| "an unknown commit".into()),
            wanted: c.clone(),
        }));
    }
    let expected = Expected {
        digest,
        repository: &trust.repository,
        commit: &wanted,
    };
    check::decide(trust.policy, &trust.anchor, &expected, bundles, facts).map_err(|refusal| {
        Box::new(VerifyError::Refused {
            environment: trust.environment.clone(),
            service: service.into(),
            image: image.into(),
            digest: digest.into(),
            refusal,
        })
    })
}

/// Verifies every image of `requests` and pins each to the digest checked (`HOST/REPO@DIGEST`).
/// `commits` says, per service, which commit its image must come from.
pub async fn gate<R: Referrers<Error = RegistryError> + Sync>(
    registry: &Client,
    referrers: &R,
    config: &Config,
    trust: &Trust,
    requests: &mut [Request],
    commits: &BTreeMap<String, Commit>,
    facts: &ReadFacts,
) -> Result<(), Box<VerifyError>> {
    for r in requests.iter_mut() {
        let Some(service) = config.service(&r.service) else {
            continue;
        };
        let repository = service.repository(&config.project);
        let image = r.image.to_string();
        let registry_error = |cause| VerifyError::Registry {
            service: r.service.clone(),
            image: image.clone(),
            cause,
        };
        let digest = match (&r.image.digest, &r.image.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(tag)) => registry
                .digest(&repository, tag)
                .await
                .map_err(registry_error)?
                .ok_or_else(|| VerifyError::NotThere {
                    service: r.service.clone(),
                    image: image.clone(),
                })?,
            (None, None) => {
                return Err(Box::new(VerifyError::NotThere {
                    service: r.service.clone(),
                    image,
                }));
            }
        };
        let labels = registry
            .labels(&repository, &digest)
            .await
            .map_err(registry_error)?
            .unwrap_or_default();
        let bundles = referrers
            .bundles(&repository, &digest)
            .await
            .map_err(registry_error)?;
        let commit = commits
            .get(&r.service)
            .cloned()
            .unwrap_or(Commit::Labelled { fingerprint: None });
        judge(
            trust, &r.service, &image, &digest, &labels, &commit, &bundles, facts,
        )?;
        // Pinned, the revision names no version: the downgrade guard reads this environment's
        // version tags by digest instead.
        let env = &trust.environment;
        let listed = registry
            .list(&repository, &|t| {
                crate::version::parse_tag(env, t).is_some()
            })
            .await
            .map_err(registry_error)?;
        r.known.clear();
        for (tag, d) in &listed.tags {
            if let (Some(v), Some(d)) = (crate::version::parse_tag(env, tag), d) {
                let slot = r.known.entry(d.clone()).or_insert_with(|| v.clone());
                if v > *slot {
                    *slot = v;
                }
            }
        }
        r.image.tag = None;
        r.image.digest = Some(digest);
    }
    Ok(())
}

/// Signs `digest` (the image or index at `name`, `host/repo`) and attaches the bundle; with
/// `only_if_unsigned` (a promotion), nothing is done when a signature by this key over the digest
/// is already attached. Returns whether it signed.
pub async fn sign_image<R: Referrers<Error = RegistryError> + Sync>(
    referrers: &R,
    signer: &Signer,
    repository: &str,
    name: &str,
    digest: &str,
    only_if_unsigned: bool,
) -> Result<bool, SignError> {
    // A keyless signer has no lasting key to recognise its own signature by: it signs again.
    if only_if_unsigned && let Some(key) = signer.verifying() {
        let attached = referrers
            .bundles(repository, digest)
            .await
            .map_err(SignError::Registry)?;
        let signed = attached
            .iter()
            .filter_map(|b| bundle::open(b).ok())
            .any(|o| {
                o.predicate_type == bundle::COSIGN_SIGN
                    && o.subjects.iter().any(|s| s == digest)
                    && check::signed_by(&o, &key)
            });
        if signed {
            return Ok(false);
        }
    }
    let statement = bundle::signature_statement(name, digest);
    let signed = signer.bundle(&statement).await.map_err(SignError::Signer)?;
    referrers
        .attach_bundle(repository, digest, &signed.to_json(), bundle::COSIGN_SIGN)
        .await
        .map_err(SignError::Registry)?;
    Ok(true)
}

/// Signs an in-toto `statement` about `digest` (the provenance) and attaches the bundle.
pub async fn sign_statement<R: Referrers<Error = RegistryError> + Sync>(
    referrers: &R,
    signer: &Signer,
    repository: &str,
    digest: &str,
    statement: &[u8],
    predicate_type: &str,
) -> Result<(), SignError> {
    let signed = signer.bundle(statement).await.map_err(SignError::Signer)?;
    referrers
        .attach_bundle(repository, digest, &signed.to_json(), predicate_type)
        .await
        .map_err(SignError::Registry)
}

/// Why a signature could not be made or attached.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Signer(SignerError),
    #[error("{0}")]
    Registry(RegistryError),
}

#[cfg(test)]
mod tests;
