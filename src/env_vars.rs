//! Every environment variable shipit reads, in one place.

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

/// Set: talk to a `tcp://` engine over TLS, with the certificates in `DOCKER_CERT_PATH`
/// (`ca.pem`, `cert.pem`, `key.pem`), as the docker CLI does.
pub const DOCKER_TLS_VERIFY: &str = "DOCKER_TLS_VERIFY";
pub const DOCKER_CERT_PATH: &str = "DOCKER_CERT_PATH";

/// Read at build time, not at run time: the release build sets it to the commit of the release's
/// tag (`git rev-list -n1 vX.Y.Z`), and the workflow `shipit init` writes pins the action to it.
/// Unset (any other build), init writes an obviously invalid placeholder instead.
pub const SHIPIT_RELEASE_COMMIT: Option<&str> = option_env!("SHIPIT_RELEASE_COMMIT");
