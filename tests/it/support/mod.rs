//! Shared test support: where the local services are, unique names, temporary repositories.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

fn service_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `scripts/test`, which starts the local services")
    })
}

/// `HOST:PORT` of the anonymous Distribution registry.
pub fn registry() -> String {
    service_env("SHIPIT_TEST_REGISTRY")
}

/// `HOST:PORT` of the Distribution registry with htpasswd basic auth, and its user and password.
pub fn registry_auth() -> (String, String, String) {
    (
        service_env("SHIPIT_TEST_REGISTRY_AUTH"),
        service_env("SHIPIT_TEST_REGISTRY_USER"),
        service_env("SHIPIT_TEST_REGISTRY_PASSWORD"),
    )
}

/// `HOST:PORT` of the Distribution registry behind a Bearer-token service (same user and password
/// as [`registry_auth`]).
pub fn registry_token() -> String {
    service_env("SHIPIT_TEST_REGISTRY_TOKEN")
}

/// URL of the Sigstore stand-in (scripts/sigstore-server.py): GitHub Actions' token endpoint,
/// Fulcio and Rekor.
pub fn sigstore() -> String {
    service_env("SHIPIT_TEST_SIGSTORE")
}

/// Endpoint URL of moto's server (the AWS API).
pub fn moto() -> String {
    service_env("SHIPIT_TEST_MOTO")
}

/// The AWS SDK's configuration for moto (or another emulator at `endpoint`): static credentials,
/// us-east-1.
pub fn sdk_config(rt: &tokio::runtime::Runtime, endpoint: &str) -> aws_config::SdkConfig {
    rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(endpoint)
            .load(),
    )
}

/// Path of a static busybox to copy into `FROM scratch` images.
pub fn busybox() -> String {
    service_env("SHIPIT_TEST_BUSYBOX")
}

/// A name no other test in this run uses (repositories, clusters, services).
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub mod ecr;
pub mod ecs;
pub mod ecs_double;
pub mod git;
pub mod netfake;
pub mod proxy;
pub mod registry;
pub mod shipit;
