//! The image registry: what a repository holds (tags and the digests they point at), through one
//! small interface with two backends, ECR ([`ecr`]) and OCI Distribution registries ([`oci`]).

pub mod ecr;
pub mod oci;

use std::collections::BTreeMap;

use miette::Diagnostic;
use thiserror::Error;

use crate::config::{Config, Registry};
use crate::github::Env;

#[derive(Debug, Error, Diagnostic)]
pub enum RegistryError {
    #[error("cannot reach the registry {registry}: {why}")]
    #[diagnostic(
        code(shipit::registry::unreachable),
        help(
            "check the address in ci.toml (`project.registry`) and the network; for ECR, the AWS region and endpoint"
        )
    )]
    Unreachable { registry: String, why: String },

    #[error("the registry {registry} refused the credentials: {why}")]
    #[diagnostic(code(shipit::registry::auth), help("{help}"))]
    Auth {
        registry: String,
        why: String,
        help: String,
    },

    #[error("no AWS credentials or region: {why}")]
    #[diagnostic(
        code(shipit::registry::aws_credentials),
        help(
            "configure the AWS SDK's standard chain: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or OIDC \
             (aws-actions/configure-aws-credentials), and AWS_REGION"
        )
    )]
    AwsSetup { why: String },

    #[error("the registry {registry} answered {what}: {why}")]
    #[diagnostic(code(shipit::registry::protocol))]
    Protocol {
        registry: String,
        what: String,
        why: String,
    },
}

impl RegistryError {
    /// True when the user can fix this (credentials, names, addresses): exit status 2, not 1.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, RegistryError::Protocol { .. })
    }
}

/// What one repository holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoState {
    /// The repository's full address, for people (`host/name`).
    pub address: String,
    /// False when the repository does not exist yet: a normal state before the first push.
    pub exists: bool,
    /// Every tag, with the digest it points at when the backend knows it (see [`Client::list`]).
    pub tags: BTreeMap<String, Option<String>>,
}

impl RepoState {
    pub fn digest(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).and_then(|d| d.as_deref())
    }

    /// Tags that point at `digest`.
    pub fn tags_of<'a>(&'a self, digest: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tags
            .iter()
            .filter(move |(_, d)| d.as_deref() == Some(digest))
            .map(|(t, _)| t.as_str())
    }
}

/// A connection to the project's registry.
pub enum Client {
    Ecr(ecr::Ecr),
    Oci(oci::Oci),
}

impl Client {
    /// Connects to the registry that ci.toml names, with credentials from the environment.
    pub async fn connect(config: &Config, env: &Env) -> Result<Client, RegistryError> {
        match &config.project.registry {
            Registry::Ecr => Ok(Client::Ecr(ecr::Ecr::connect().await?)),
            Registry::Oci { host, prefix } => {
                Ok(Client::Oci(oci::Oci::new(host, prefix.as_deref(), env)?))
            }
        }
    }

    /// The tags of `repository`, with digests resolved for the tags `wanted` says yes to (ECR knows
    /// every digest anyway; an OCI registry costs one request per tag resolved).
    pub async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        match self {
            Client::Ecr(c) => c.list(repository).await,
            Client::Oci(c) => c.list(repository, wanted).await,
        }
    }
}
