//! ci.toml as written: serde types that deny unknown keys and keep the span of every value that a
//! later check may need to point at. Nothing here is validated beyond its TOML type.
//!
//! The same types give ci.toml's JSON Schema (`shipit schema`, `ci.schema.json`): each field's doc
//! comment is its description there, and `#[schemars(with = ...)]` says what a spanned value is.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

/// shipit's configuration: ci.toml at the repository root. Every key is explained in the
/// reference ci.toml of shipit's repository.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ci.toml")]
pub struct RawConfig {
    /// Settings for the whole repository: registry, image repositories, retention.
    #[serde(default)]
    pub project: RawProject,
    /// Environments. The key is the environment's name and its tag prefix (`<key>-X.Y.Z`). Absent:
    /// prod = branch "main" (latest), stage = "develop", dev = "development".
    #[schemars(with = "Option<BTreeMap<String, RawEnvironment>>")]
    pub environments: Option<BTreeMap<S<String>, RawEnvironment>>,
    /// Files whose changes affect every service, or nothing.
    #[serde(default)]
    pub global: RawGlobal,
    /// Services and libraries. The key is the service's name: lowercase letters, digits, `-`, `_`
    /// and `.`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawService>")]
    pub services: BTreeMap<S<String>, RawService>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// The image repository of each service; `{service}` is replaced by the service's name.
    /// Default: "{service}".
    #[schemars(with = "Option<String>")]
    pub repository: Option<S<String>>,
    /// Where images go: "ecr" (the default: the ECR registry of the AWS account and region), or
    /// "oci://HOST[:PORT][/PREFIX]" (any OCI Distribution registry).
    #[schemars(with = "Option<String>")]
    pub registry: Option<S<String>>,
    /// How many versions to keep per repository and environment when pruning. Default: 10.
    #[schemars(with = "Option<i64>")]
    pub retain: Option<S<i64>>,
    /// The default branch, for choosing the diff base. Default: origin/HEAD's branch, else the
    /// branch of the environment with `latest = true`, else "main".
    #[schemars(with = "Option<String>")]
    pub default_branch: Option<S<String>>,
    /// The first version of a service with no earlier version in its environment. Default: "0.1.0".
    #[schemars(with = "Option<String>")]
    pub initial_version: Option<S<String>>,
    /// ECR only: repositories shipit creates scan each image on push. Default: true.
    pub scan_on_push: Option<bool>,
    /// ECR only: repositories shipit creates refuse to move a tag (`latest` included). Default: false.
    pub immutable_tags: Option<bool>,
    /// ECR only: a lifecycle policy expiring untagged images this many days old. Optional.
    #[schemars(with = "Option<i64>")]
    pub untagged_expiry_days: Option<S<i64>>,
    /// The platforms each image is built for, as `os/arch[/variant]` ("linux/amd64",
    /// "linux/arm64"): one build per platform, pushed by digest, under one image index. The nearest
    /// wins: a service's environment, the service, the environment, the project. Default: one image
    /// for the engine's own platform.
    #[schemars(with = "Option<Vec<String>>")]
    pub platforms: Option<S<Vec<S<String>>>>,
    /// Sign every pushed image digest (and its provenance) in a cosign-compatible Sigstore bundle
    /// attached as an OCI referrer: `{ key = "env:VAR" }` (an unencrypted ECDSA P-256 private key
    /// in PEM, read from VAR), `{ kms = "arn:aws:kms:…" }` (an ECC_NIST_P256 KMS key) or
    /// "github" (keyless: a Fulcio certificate for the GitHub Actions workflow, logged in Rekor;
    /// the job needs `permissions: id-token: write`). An environment may set its own. Default:
    /// no signing.
    #[schemars(with = "Option<RawSign>")]
    pub sign: Option<S<RawSign>>,
}

/// How images are signed (`sign`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(inline)]
pub enum RawSign {
    /// "github": keyless signing through the GitHub Actions OIDC token, on Sigstore's
    /// public-good instance.
    Keyless(String),
    /// `{ key = "env:VAR" }`, `{ kms = "arn:aws:kms:…" }` or
    /// `{ keyless = "github", fulcio = "https://…", rekor = "https://…", trusted_root = "PATH" }`
    /// (a private Sigstore instance).
    Table(RawSignTable),
    /// Anything else: refused with the forms that work.
    #[schemars(skip)]
    Other(#[allow(dead_code)] toml::Value),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSignTable {
    /// "env:VAR": an unencrypted ECDSA P-256 private key (PKCS#8 or SEC1 PEM) in the variable VAR.
    pub key: Option<String>,
    /// The ARN of an AWS KMS key (KeySpec ECC_NIST_P256, KeyUsage SIGN_VERIFY).
    pub kms: Option<String>,
    /// "github": keyless signing through the GitHub Actions OIDC token.
    pub keyless: Option<String>,
    /// Keyless: the Fulcio of a private Sigstore instance. Default: https://fulcio.sigstore.dev.
    pub fulcio: Option<String>,
    /// Keyless: the Rekor of a private Sigstore instance. Default: https://rekor.sigstore.dev.
    pub rekor: Option<String>,
    /// Keyless: the private instance's trusted root (`trusted_root.json`), a file in the
    /// repository, for verifying what it signed. Default: the public-good instance's.
    pub trusted_root: Option<String>,
}

/// Who must have signed keyless (`verify_identity`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// The OIDC issuer. Default: GitHub Actions' (https://token.actions.githubusercontent.com).
    pub issuer: Option<String>,
    /// The certificate's subject: for GitHub Actions the workflow,
    /// `https://github.com/OWNER/REPO/.github/workflows/FILE@REF`; `*` matches any run of
    /// characters. Default: any workflow of this repository.
    pub subject: Option<String>,
    /// The trusted root (`trusted_root.json`) of a private Sigstore instance, a file in the
    /// repository. Default: the public-good instance's.
    pub trusted_root: Option<String>,
}

/// What is checked before a rollout (`verify`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(inline)]
pub enum Verify {
    /// Nothing.
    #[default]
    Off,
    /// A signature by the trust anchor over the image digest.
    Signature,
    /// That, and a signed provenance naming this repository and the released commit.
    Provenance,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// The git branch that releases to this environment. Required.
    #[schemars(with = "String")]
    pub branch: S<String>,
    /// Also tag each release `latest`. Default: false.
    #[schemars(with = "Option<bool>")]
    pub latest: Option<S<bool>>,
    /// The ECS clusters to roll out to, all of them on every release. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub clusters: Vec<S<String>>,
    /// A cluster rolled out first and alone; the others follow when it succeeded. One of `clusters`.
    #[schemars(with = "Option<String>")]
    pub canary: Option<S<String>>,
    /// How long a rollout may take before it counts as failed, e.g. "15m" (the default).
    #[schemars(with = "Option<String>")]
    pub rollout_timeout: Option<S<String>>,
    /// How often to check a rollout's progress, e.g. "10s" (the default).
    #[schemars(with = "Option<String>")]
    pub poll_interval: Option<S<String>>,
    /// How long a release waits for an ECS blue/green, linear or canary deployment: "complete"
    /// (the default: until ECS calls it successful, bake time included) or "traffic-shifted"
    /// (until production traffic is on the new revision; ECS bakes it after shipit exits).
    /// Rolling deployments always wait until complete.
    pub rollout_wait: Option<RolloutWait>,
    /// Docker build args for every service in this environment. Default: {}.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// BuildKit build secrets for every service in this environment: ID = "env:VAR", mounted by
    /// `RUN --mount=type=secret,id=ID`, the value read from VAR at build time. Default: {}.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub secrets: BTreeMap<String, S<String>>,
    /// The platforms each image is built for, as `os/arch[/variant]` ("linux/amd64",
    /// "linux/arm64"): one build per platform, pushed by digest, under one image index. The nearest
    /// wins: a service's environment, the service, the environment, the project. Default: one image
    /// for the engine's own platform.
    #[schemars(with = "Option<Vec<String>>")]
    pub platforms: Option<S<Vec<S<String>>>>,
    /// Signing in this environment, instead of the project's `sign`.
    #[schemars(with = "Option<RawSign>")]
    pub sign: Option<S<RawSign>>,
    /// Before every rollout of this environment (`release` and `deploy`), check each image:
    /// "signature" (signed by the trust anchor), "provenance" (and a signed provenance names this
    /// repository and the commit) or "off" (the default). When on, task definitions pin
    /// `HOST/REPO@sha256:DIGEST`.
    pub verify: Option<Verify>,
    /// The trust anchor of `verify`: a PEM public key file in the repository ("keys/cosign.pub")
    /// or a KMS key ARN (its public key). Default: the public key of this environment's `sign`.
    #[schemars(with = "Option<String>")]
    pub verify_key: Option<S<String>>,
    /// The trust anchor of `verify` for keyless signatures: the OIDC issuer and certificate
    /// subject that must have signed. Default, when this environment signs keyless: GitHub
    /// Actions, any workflow of this repository.
    #[schemars(with = "Option<RawIdentity>")]
    pub verify_identity: Option<S<RawIdentity>>,
}

/// How long a release waits for a native ECS deployment (`rollout_wait`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(inline)]
pub enum RolloutWait {
    /// Until ECS calls the deployment successful, bake time included.
    #[default]
    Complete,
    /// Until production traffic is on the new revision.
    TrafficShifted,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    /// Globs: a change to any of these affects every service. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub triggers: Vec<S<String>>,
    /// Globs: changes to these affect nothing; wins over everything else. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ignore: Vec<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The service's directory; everything under it belongs to the service. Required.
    #[schemars(with = "String")]
    pub path: S<String>,
    /// More globs whose changes affect the service. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub include: Vec<S<String>>,
    /// Globs whose changes never affect the service, even under `path` or `include`. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude: Vec<S<String>>,
    /// Services this one depends on: when one of them is affected, this one is too. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<S<String>>,
    /// The test command, run with `sh -c` in `path`. Default: none.
    pub test: Option<String>,
    /// How long the test command may run, e.g. "30m" (the default).
    #[schemars(with = "Option<String>")]
    pub test_timeout: Option<S<String>>,
    /// A glob, relative to `path`, of the JUnit XML files the test command writes, e.g.
    /// "target/junit.xml"; `release --junit FILE` merges them. Default: none.
    #[schemars(with = "Option<String>")]
    pub test_report: Option<S<String>>,
    /// A path, relative to `path`, of the CycloneDX JSON SBOM the test command writes, e.g.
    /// "target/sbom.cdx.json": attached to the image instead of the SBOM shipit makes from the
    /// lockfiles the Dockerfile copies. Default: none.
    #[schemars(with = "Option<String>")]
    pub sbom: Option<S<String>>,
    /// Globs, relative to `path`, of the files the test command produces that the Dockerfile
    /// copies although git ignores them (a build output: "target/app.jar", "dist/"). After the
    /// tests, the files on disk that match join the committed tree in the build context; a
    /// Dockerfile that copies an ignored path not declared here is refused. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub artifacts: Vec<S<String>>,
    /// Globs, relative to `path`, of files whose changes need the tests but no new image (a
    /// `tests/` folder): a service affected only through them is tested, not built, bumped, pushed
    /// or rolled out. A file its Dockerfile copies still needs an image. Default: [].
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub test_only: Vec<S<String>>,
    /// true: a service with an image (built, pushed, rolled out); false: a library, only tested.
    /// Default: true.
    #[serde(default = "yes")]
    pub image: bool,
    /// The Dockerfile, relative to `path`. Default: "Dockerfile".
    #[schemars(with = "Option<String>")]
    pub dockerfile: Option<S<String>>,
    /// The build context, relative to `path`; a leading `/` names it from the repository root
    /// ("/" is the root itself, "/proto" a folder of it), like a root-anchored glob. Default: ".".
    #[schemars(with = "Option<String>")]
    pub context: Option<S<String>>,
    /// The build stage to build. Default: the last stage.
    pub target: Option<String>,
    /// Docker build args for this service in every environment; wins over the environment's.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// A dotenv file (compose's `.env`: `NAME=value` lines), relative to `path` or, with a leading
    /// `/`, to the repository root, whose values are build args of every build of the service: only
    /// the names an `ARG` of its Dockerfile declares, and below `build_args` written in ci.toml.
    /// Read from the commit that ships; the file is an input of the service (`affected`, the
    /// fingerprint). Default: none.
    #[schemars(with = "Option<String>")]
    pub build_args_file: Option<S<String>>,
    /// BuildKit build secrets for this service, added to the environment's: ID = "env:VAR", mounted
    /// by `RUN --mount=type=secret,id=ID`, the value read from VAR at build time. Default: {}.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub secrets: BTreeMap<String, S<String>>,
    /// The registry layer cache (inline cache pushed, earlier images as `cache_from`); false:
    /// neither. Default: true.
    pub cache: Option<bool>,
    /// The platforms each image is built for, as `os/arch[/variant]` ("linux/amd64",
    /// "linux/arm64"): one build per platform, pushed by digest, under one image index. The nearest
    /// wins: a service's environment, the service, the environment, the project. Default: one image
    /// for the engine's own platform.
    #[schemars(with = "Option<Vec<String>>")]
    pub platforms: Option<S<Vec<S<String>>>>,
    /// This service's image repository, instead of the `[project] repository` template (which
    /// `{service}` in it stands for, as there); the registry's prefix still applies.
    /// Default: the project's template.
    #[schemars(with = "Option<String>")]
    pub repository: Option<S<String>>,
    /// The ECS service to roll out in each cluster. Default: the service's name.
    pub ecs_service: Option<String>,
    /// The container whose image shipit replaces in the task definition. Default: the service's name.
    pub container: Option<String>,
    /// A task definition file, relative to `path`, to render new revisions from. Default: the
    /// task definition the ECS service runs now.
    #[schemars(with = "Option<String>")]
    pub task_definition: Option<S<String>>,
    /// A CreateService request JSON, relative to `path`: the ECS service is created from it in a
    /// cluster where it is missing (shipit fills in cluster, taskDefinition and serviceName).
    /// Default: none (a missing ECS service is an error).
    #[schemars(with = "Option<String>")]
    pub service_definition: Option<S<String>>,
    /// A file, relative to `path`, whose version is a floor for the next version: Cargo.toml,
    /// package.json, pyproject.toml or VERSION. Default: none.
    #[schemars(with = "Option<String>")]
    pub version_file: Option<S<String>>,
    /// The first version of this service. Default: project.initial_version.
    #[schemars(with = "Option<String>")]
    pub initial_version: Option<S<String>>,
    /// Per-environment overrides; the key must be one of the environments.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawServiceEnvironment>")]
    pub environments: BTreeMap<S<String>, RawServiceEnvironment>,
}

/// `[services.NAME.environments.ENV]`: what one service does differently in one environment.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServiceEnvironment {
    /// The Dockerfile in this environment, relative to `path`.
    #[schemars(with = "Option<String>")]
    pub dockerfile: Option<S<String>>,
    /// Build args in this environment; added to the others, and win.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Build secrets in this environment, added to the service's and the environment's.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub secrets: BTreeMap<String, S<String>>,
    /// The build stage in this environment.
    pub target: Option<String>,
    /// The ECS clusters of this service in this environment, instead of the environment's.
    #[schemars(with = "Option<Vec<String>>")]
    pub clusters: Option<Vec<S<String>>>,
    /// A task definition file for this environment, relative to `path`.
    #[schemars(with = "Option<String>")]
    pub task_definition: Option<S<String>>,
    /// A service definition file (CreateService request) for this environment, relative to `path`.
    #[schemars(with = "Option<String>")]
    pub service_definition: Option<S<String>>,
    /// The platforms each image is built for, as `os/arch[/variant]` ("linux/amd64",
    /// "linux/arm64"): one build per platform, pushed by digest, under one image index. The nearest
    /// wins: a service's environment, the service, the environment, the project. Default: one image
    /// for the engine's own platform.
    #[schemars(with = "Option<Vec<String>>")]
    pub platforms: Option<S<Vec<S<String>>>>,
}

fn yes() -> bool {
    true
}
