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

/// Log filter for shipit's own diagnostics (tracing), e.g. `shipit=debug`.
pub const SHIPIT_LOG: &str = "SHIPIT_LOG";
