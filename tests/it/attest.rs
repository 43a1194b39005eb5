//! Content written to real registries by digest (blobs, manifests of any media type), read back
//! checked, on the anonymous, basic-auth and token Distribution registries and the ECR stand-in.

use bytes::Bytes;
use serde_json::json;
use shipit::registry::Client;

use crate::support::{ecr, registry, registry_auth, registry_token, sdk_config, unique};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ecr_config() -> shipit::config::Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services/api")).unwrap();
    shipit::config::Config::parse(
        "[project]\nregistry = \"ecr\"\n\n[services.api]\npath = \"services/api\"\n",
        "ci.toml",
        std::path::Path::new("ci.toml"),
        dir.path(),
        shipit::config::Checks::Load,
    )
    .unwrap()
}

fn with_credentials(host: &str) -> Client {
    let (_, user, password) = registry_auth();
    let env = shipit::github::Env::from_pairs([
        ("SHIPIT_REGISTRY_USERNAME", user.as_str()),
        ("SHIPIT_REGISTRY_PASSWORD", password.as_str()),
    ]);
    Client::oci(host, None, &env).unwrap()
}

/// A config blob and an OCI image manifest naming it (no layers), made of `seed`.
fn image(seed: &str) -> (Bytes, Vec<u8>) {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": shipit::registry::digest_of(&config), "size": config.len()},
        "layers": []
    }))
    .unwrap();
    (config.into(), manifest)
}

/// Puts a blob (twice: the second finds it), a manifest by digest and under a tag, and reads the
/// blob back; the same digests as computed here, and what the registry answers agrees.
fn writes_and_reads_back(rt: &tokio::runtime::Runtime, client: &Client, repository: &str) {
    let seed = unique("w");
    let (config, manifest) = image(&seed);
    let digest = rt
        .block_on(client.put_blob(repository, config.clone()))
        .unwrap();
    assert_eq!(digest, shipit::registry::digest_of(&config));
    let again = rt
        .block_on(client.put_blob(repository, config.clone()))
        .unwrap();
    assert_eq!(again, digest);
    assert_eq!(
        rt.block_on(client.blob(repository, &digest)).unwrap(),
        config
    );
    let media = "application/vnd.oci.image.manifest.v1+json";
    let by_digest = rt
        .block_on(client.put_manifest_by_digest(repository, media, &manifest))
        .unwrap();
    assert_eq!(by_digest, shipit::registry::digest_of(&manifest));
    let labels = rt
        .block_on(client.labels(repository, &by_digest))
        .unwrap()
        .unwrap();
    assert_eq!(labels["seed"], seed);
    let tag = format!("fp-{seed}");
    let under_tag = rt
        .block_on(client.put_manifest_bytes_under_tag(repository, &tag, media, &manifest))
        .unwrap();
    assert_eq!(under_tag, by_digest);
    assert_eq!(
        rt.block_on(client.digest(repository, &tag)).unwrap(),
        Some(by_digest)
    );
    // A blob that is not there is an error naming it, never empty bytes.
    let missing = shipit::registry::digest_of(seed.as_bytes());
    let err = rt.block_on(client.blob(repository, &missing)).unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

#[test]
fn blobs_and_manifests_are_written_by_digest_on_an_anonymous_registry() {
    let rt = rt();
    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&registry(), Some(&unique("write")), &env).unwrap();
    writes_and_reads_back(&rt, &client, "api");
}

#[test]
fn blobs_and_manifests_are_written_by_digest_with_basic_auth_and_tokens() {
    let rt = rt();
    let (auth, _, _) = registry_auth();
    writes_and_reads_back(
        &rt,
        &with_credentials(&auth),
        &format!("{}/api", unique("write-basic")),
    );
    writes_and_reads_back(
        &rt,
        &with_credentials(&registry_token()),
        &format!("{}/api", unique("write-token")),
    );
}

#[test]
fn blobs_and_manifests_are_written_by_digest_on_the_ecr_stand_in() {
    let rt = rt();
    let client = Client::ecr(&sdk_config(&rt, &ecr::endpoint()));
    let repository = format!("{}/api", unique("write-ecr"));
    let cfg = ecr_config();
    rt.block_on(client.push_target(&repository, &cfg)).unwrap();
    writes_and_reads_back(&rt, &client, &repository);
    // What was written went to the registry the engine pushes to.
    let (_, oci) = ecr::stand_in();
    assert!(oci.tags(&repository).iter().any(|t| t.starts_with("fp-")));
}
