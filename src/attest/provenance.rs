//! The provenance of an image: an in-toto Statement v1 whose predicate is SLSA provenance v1,
//! made from what shipit knows at push time (pure: no registry, no engine, no git here).
//!
//! What it says: the source (repository, ref, commit), the run (under GitHub Actions: the
//! workflow, the run's id and attempt), ci.toml's digest, the service, its fingerprint, its
//! Dockerfile, the NAMES of its build arguments (never a value: a build argument may carry a
//! secret), its base images (by digest where the registry said), the engine's version, and shipit
//! itself as the builder. The subjects are the pushed manifest (and an image index, when there is
//! one) by digest. [`Statement::parse`] reads one back, for the check before a rollout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type: SLSA provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What the build is: a shipit release of one service (the build definition's template).
pub const BUILD_TYPE: &str = "pkg:cargo/shipit#release";
/// The artifact type of a provenance attached to an image, and its payload's media type.
pub const ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";

/// One thing the statement is about: an image by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// A resolved dependency: the source at its commit, a base image at its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
}

/// SLSA provenance v1's build definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: serde_json::Value,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub internal_parameters: serde_json::Value,
    #[serde(default)]
    pub resolved_dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub invocation_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_on: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

/// An in-toto Statement v1 with a SLSA provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    pub predicate: Predicate,
}

/// Why a provenance statement could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error("the provenance is not an in-toto statement: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the provenance's `_type` is `{0}`, not {STATEMENT_TYPE}")]
    Type(String),
    #[error("the provenance's `predicateType` is `{0}`, not {PREDICATE_TYPE}")]
    PredicateType(String),
    #[error("the provenance names no subject")]
    NoSubject,
}

/// A base image of the build, as the Dockerfile names it, with its digest where it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    pub digest: Option<String>,
}

/// The source of the build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// The repository's URL without credentials (`https://github.com/OWNER/NAME`).
    pub repository: String,
    /// `refs/heads/main`, or empty when unknown.
    pub git_ref: String,
    pub commit: String,
}

/// The GitHub Actions run that made the image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workflow {
    /// `OWNER/NAME/.github/workflows/release.yml@refs/heads/main`.
    pub workflow_ref: String,
    pub run_id: String,
    pub run_attempt: String,
    /// The run's URL, when the server and repository are known.
    pub run_url: String,
}

/// What shipit knows of one service's build, for its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inputs {
    pub source: Source,
    pub workflow: Option<Workflow>,
    pub service: String,
    pub fingerprint: String,
    /// `sha256:<hex>` of ci.toml as read.
    pub ci_toml: String,
    /// The Dockerfile's path in the repository.
    pub dockerfile: String,
    pub context: String,
    pub target: Option<String>,
    /// Names only.
    pub build_args: Vec<String>,
    pub secrets: Vec<String>,
    pub base_images: Vec<BaseImage>,
    pub engine_version: String,
    /// RFC 3339, when the build started.
    pub started_on: String,
}

/// `sha256:<hex>` → (`sha256`, `<hex>`).
fn split_digest(digest: &str) -> (String, String) {
    match digest.split_once(':') {
        Some((alg, hex)) => (alg.to_string(), hex.to_string()),
        None => ("sha256".to_string(), digest.to_string()),
    }
}

/// The statement for `subjects` (image address without tag, digest): the pushed manifest, and
/// the image index when there is one.
pub fn statement(subjects: &[(String, String)], inputs: &Inputs) -> Statement {
    let subject = subjects
        .iter()
        .map(|(name, digest)| Subject {
            name: name.clone(),
            digest: BTreeMap::from([split_digest(digest)]),
        })
        .collect();
    let source_uri = match inputs.source.git_ref.is_empty() {
        true => format!("git+{}", inputs.source.repository),
        false => format!("git+{}@{}", inputs.source.repository, inputs.source.git_ref),
    };
    let mut dependencies = vec![Dependency {
        name: String::new(),
        uri: source_uri,
        digest: BTreeMap::from([("gitCommit".to_string(), inputs.source.commit.clone())]),
    }];
    for base in &inputs.base_images {
        dependencies.push(Dependency {
            name: base.reference.clone(),
            uri: format!("docker://{}", base.reference),
            digest: base
                .digest
                .as_deref()
                .map(|d| BTreeMap::from([split_digest(d)]))
                .unwrap_or_default(),
        });
    }
    let mut external = serde_json::json!({
        "repository": inputs.source.repository,
        "ref": inputs.source.git_ref,
        "commit": inputs.source.commit,
        "service": inputs.service,
        "dockerfile": inputs.dockerfile,
        "context": inputs.context,
        "buildArgs": inputs.build_args,
        "secrets": inputs.secrets,
    });
    if let Some(target) = &inputs.target {
        external["target"] = target.clone().into();
    }
    if let Some(w) = &inputs.workflow {
        external["workflow"] = serde_json::json!({
            "ref": w.workflow_ref,
            "runId": w.run_id,
            "runAttempt": w.run_attempt,
        });
    }
    let mut internal = serde_json::json!({
        "ciToml": inputs.ci_toml,
        "fingerprint": inputs.fingerprint,
    });
    // An assembled index was built elsewhere (the matrix's legs): no engine is named for it.
    if !inputs.engine_version.is_empty() {
        internal["engineVersion"] = inputs.engine_version.clone().into();
    }
    let mut builder_version =
        BTreeMap::from([("shipit".to_string(), env!("CARGO_PKG_VERSION").to_string())]);
    if !inputs.engine_version.is_empty() {
        builder_version.insert("engine".to_string(), inputs.engine_version.clone());
    }
    let invocation_id = inputs
        .workflow
        .as_ref()
        .map(|w| w.run_url.clone())
        .unwrap_or_default();
    let metadata = (!invocation_id.is_empty() || !inputs.started_on.is_empty()).then(|| Metadata {
        invocation_id,
        started_on: inputs.started_on.clone(),
    });
    Statement {
        type_: STATEMENT_TYPE.to_string(),
        subject,
        predicate_type: PREDICATE_TYPE.to_string(),
        predicate: Predicate {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.to_string(),
                external_parameters: external,
                internal_parameters: internal,
                resolved_dependencies: dependencies,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: format!("pkg:cargo/shipit@{}", env!("CARGO_PKG_VERSION")),
                    version: builder_version,
                },
                metadata,
            },
        },
    }
}

impl Statement {
    /// Reads a statement back (a provenance found as a referrer): an in-toto Statement v1 with
    /// a SLSA provenance v1 predicate and at least one subject.
    pub fn parse(bytes: &[u8]) -> Result<Statement, ProvenanceError> {
        let s: Statement = serde_json::from_slice(bytes)?;
        if s.type_ != STATEMENT_TYPE {
            return Err(ProvenanceError::Type(s.type_));
        }
        if s.predicate_type != PREDICATE_TYPE {
            return Err(ProvenanceError::PredicateType(s.predicate_type));
        }
        if s.subject.is_empty() {
            return Err(ProvenanceError::NoSubject);
        }
        Ok(s)
    }

    /// The statement as JSON, the attached payload.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Every subject's digest, `sha256:<hex>`.
    pub fn subject_digests(&self) -> Vec<String> {
        self.subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
            .collect()
    }

    fn external(&self, key: &str) -> Option<&str> {
        self.predicate
            .build_definition
            .external_parameters
            .get(key)?
            .as_str()
    }

    /// The source repository's URL, as the statement names it.
    pub fn repository(&self) -> Option<&str> {
        self.external("repository")
    }

    /// The commit the image was built from.
    pub fn commit(&self) -> Option<&str> {
        self.external("commit")
    }

    /// The git ref that was released (`refs/heads/main`).
    pub fn git_ref(&self) -> Option<&str> {
        self.external("ref").filter(|r| !r.is_empty())
    }

    /// The service the image is of.
    pub fn service(&self) -> Option<&str> {
        self.external("service")
    }

    /// The image's fingerprint.
    pub fn fingerprint(&self) -> Option<&str> {
        self.predicate
            .build_definition
            .internal_parameters
            .get("fingerprint")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            source: Source {
                repository: "https://github.com/acme/shop".into(),
                git_ref: "refs/heads/main".into(),
                commit: "a".repeat(40),
            },
            workflow: Some(Workflow {
                workflow_ref: "acme/shop/.github/workflows/release.yml@refs/heads/main".into(),
                run_id: "42".into(),
                run_attempt: "1".into(),
                run_url: "https://github.com/acme/shop/actions/runs/42/attempts/1".into(),
            }),
            service: "api".into(),
            fingerprint: "f".repeat(16),
            ci_toml: format!("sha256:{}", "c".repeat(64)),
            dockerfile: "services/api/Dockerfile".into(),
            context: "services/api".into(),
            target: None,
            build_args: vec!["NPM_TOKEN".into()],
            secrets: vec![],
            base_images: vec![BaseImage {
                reference: "node:22".into(),
                digest: Some(format!("sha256:{}", "b".repeat(64))),
            }],
            engine_version: "20.10.24".into(),
            started_on: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_statement_reads_back_with_its_subjects_source_and_names_only() {
        let digest = format!("sha256:{}", "d".repeat(64));
        let s = statement(&[("reg/acme/api".into(), digest.clone())], &inputs());
        let json = s.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains("\"NPM_TOKEN\""), "{text}");
        let back = Statement::parse(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.subject_digests(), [digest]);
        assert_eq!(back.repository(), Some("https://github.com/acme/shop"));
        assert_eq!(back.commit(), Some("a".repeat(40).as_str()));
        assert_eq!(back.service(), Some("api"));
        assert_eq!(back.fingerprint(), Some("f".repeat(16).as_str()));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "d".repeat(64));
        assert_eq!(
            v["predicate"]["buildDefinition"]["resolvedDependencies"][1]["digest"]["sha256"],
            "b".repeat(64)
        );
    }

    #[test]
    fn a_statement_of_another_kind_is_refused() {
        let s = statement(&[("r".into(), "sha256:00".into())], &inputs());
        let mut v = serde_json::to_value(&s).unwrap();
        v["predicateType"] = "https://slsa.dev/provenance/v0.2".into();
        let err = Statement::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(err.to_string().contains("predicateType"), "{err}");
        v["predicateType"] = PREDICATE_TYPE.into();
        v["subject"] = serde_json::json!([]);
        assert!(Statement::parse(&serde_json::to_vec(&v).unwrap()).is_err());
        assert!(Statement::parse(b"not json").is_err());
    }
}
