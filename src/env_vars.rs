//! Every environment variable shipit reads, in one place. They are read once, at the top, into
//! [`crate::github::Env`], and passed down; nothing else reads `std::env` (a test in
//! `tests/it/invariants.rs` checks it). Build secrets (`ID = "env:VAR"` in ci.toml) name their
//! variables in ci.toml: they are read from the same `Env`. The AWS SDK and the test commands'
//! children read their own.

/// Set to `true` by GitHub Actions.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
pub const GITHUB_SHA: &str = "GITHUB_SHA";
pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// The run's full ref (`refs/heads/main`), its workflow (`OWNER/REPO/.github/workflows/F@REF`),
/// and the run's id and attempt: what an image's provenance names.
pub const GITHUB_REF: &str = "GITHUB_REF";
pub const GITHUB_WORKFLOW_REF: &str = "GITHUB_WORKFLOW_REF";
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
pub const GITHUB_RUN_ATTEMPT: &str = "GITHUB_RUN_ATTEMPT";
/// Where a job with `permissions: id-token: write` asks for an OIDC token, and the bearer token
/// it asks with (a secret): keyless signing (`sign = "github"`).
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Disables colour when set to anything (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
/// Forces colour when set to anything but `0`.
pub const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";

/// Docker engine address; the default socket when unset.
pub const DOCKER_HOST: &str = "DOCKER_HOST";

/// Basic-auth credentials for `oci://` registries.
pub const SHIPIT_REGISTRY_USERNAME: &str = "SHIPIT_REGISTRY_USERNAME";
pub const SHIPIT_REGISTRY_PASSWORD: &str = "SHIPIT_REGISTRY_PASSWORD";

/// Speed tricks to turn off, for measuring what each buys (`shipit-bench-affected`): names from
/// `shipit::fast::TRICKS`, comma-separated, or `all`. Unset: all are on.
pub const SHIPIT_TRICKS_OFF: &str = "SHIPIT_TRICKS_OFF";

/// Log filter for shipit's own diagnostics (tracing), e.g. `shipit=debug`.
pub const SHIPIT_LOG: &str = "SHIPIT_LOG";

/// How long shipit waits for any one answer from the registry, its token service, AWS or the
/// Docker engine (e.g. `30s`, `2m`; default 60s). Every network deadline derives from it.
pub const SHIPIT_HTTP_TIMEOUT: &str = "SHIPIT_HTTP_TIMEOUT";

/// Set to any non-empty value (`0` included, as the docker CLI reads it): talk to a `tcp://`
/// engine over TLS, with the certificates in `DOCKER_CERT_PATH` (`ca.pem`, `cert.pem`,
/// `key.pem`). One rule for the engine client and the build session: [`crate::docker::Endpoint`].
pub const DOCKER_TLS_VERIFY: &str = "DOCKER_TLS_VERIFY";
pub const DOCKER_CERT_PATH: &str = "DOCKER_CERT_PATH";
/// Where the certificates are when `DOCKER_CERT_PATH` is not set (the docker CLI's config
/// directory), else `$HOME/.docker`.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const HOME: &str = "HOME";

/// AWS credentials: the SDK reads them itself; shipit names them only to withhold them from tests.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const AWS_SECURITY_TOKEN: &str = "AWS_SECURITY_TOKEN";

/// Read at build time, not at run time: the release build sets it to the commit of the release's
/// tag (`git rev-list -n1 vX.Y.Z`), and the workflow `shipit init` writes pins the action to it.
/// Unset (any other build), init writes an obviously invalid placeholder instead.
pub const SHIPIT_RELEASE_COMMIT: Option<&str> = option_env!("SHIPIT_RELEASE_COMMIT");
