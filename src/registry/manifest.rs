//! Manifests as shipit reads and writes them: the media types it accepts (the one list of them),
//! a manifest as a backend hands it over, and what shipit reads out of one (an index's children,
//! its first image, an image config's labels).

use std::collections::BTreeMap;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest types shipit reads and writes: images and indexes, OCI and Docker.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST];

/// [`MANIFEST_TYPES`] as one `Accept` header.
pub fn accept() -> &'static str {
    static ACCEPT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| MANIFEST_TYPES.join(", "));
    &ACCEPT
}

/// One manifest as the registry stores it: the same bytes put under another tag are the same
/// image (the same digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: bytes::Bytes,
}

impl Manifest {
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.bytes)
    }
}

/// The child digests of a manifest, when it is an image index (`manifests[].digest`).
pub fn index_children(manifest: &serde_json::Value) -> Option<Vec<String>> {
    let list = manifest.get("manifests")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m.get("digest").and_then(|d| d.as_str()))
            .map(str::to_string)
            .collect(),
    )
}

/// The first image of an image index (`manifests[]`), leaving out attestations (platform
/// `unknown/unknown`); `None` for a plain image.
pub fn first_image(manifest: &serde_json::Value) -> Option<String> {
    let list = manifest.get("manifests")?.as_array()?;
    list.iter()
        .filter(|m| {
            m.get("platform")
                .and_then(|p| p.get("os"))
                .and_then(|o| o.as_str())
                != Some("unknown")
        })
        .find_map(|m| m.get("digest").and_then(|d| d.as_str()))
        .map(str::to_string)
}

/// The digest of an image's config blob (`config.digest`); `None` for an index.
pub fn config_digest(manifest: &serde_json::Value) -> Option<&str> {
    manifest.get("config")?.get("digest")?.as_str()
}

/// The `Labels` of an image config blob (string values only); `None` when it has none.
pub fn config_labels(config: &serde_json::Value) -> Option<BTreeMap<String, String>> {
    let labels = config.get("config")?.get("Labels")?.as_object()?;
    Some(
        labels
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn an_index_is_read_through_its_first_image_and_labels_through_the_config() {
        let index = json!({"manifests": [
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}}
        ]});
        assert_eq!(super::first_image(&index).as_deref(), Some("sha256:amd"));
        assert_eq!(super::first_image(&json!({"config": {}})), None);
        assert_eq!(
            super::config_digest(&json!({"config": {"digest": "sha256:c"}})),
            Some("sha256:c")
        );
        let config = json!({"config": {"Labels": {"a": "1", "n": 2}}});
        let labels = super::config_labels(&config).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels["a"], "1");
        assert_eq!(
            super::config_labels(&json!({"config": {"Labels": null}})),
            None
        );
    }

    #[test]
    fn the_accept_header_names_every_manifest_type() {
        for t in super::MANIFEST_TYPES {
            assert!(super::accept().contains(t));
        }
        assert_eq!(super::accept().matches(", ").count(), 3);
    }
}
