//! Manifests as shipit reads and writes them: the media types it accepts (the one list of them),
//! a manifest as a backend hands it over, and what shipit reads out of one (an index's children,
//! its first image, an image config's labels).

use std::collections::BTreeMap;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An image config and a gzipped layer, as a Docker schema-2 manifest names them.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The annotations of a leg's record (`registry::index`): the leg's digest and platform.
const LEG_DIGEST: &str = "dev.shipit.leg.digest";
const LEG_PLATFORM: &str = "dev.shipit.leg.platform";

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

/// A Docker schema-2 manifest of an image: its config blob and gzipped layers, `(digest, size)`.
pub fn image(config: &(String, usize), layers: &[(String, usize)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(digest, size)| serde_json::json!({"mediaType": DOCKER_LAYER, "size": size, "digest": digest}))
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.1, "digest": config.0},
        "layers": layers,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A Docker manifest list over images `(digest, size, "os/arch[/variant]")`, in that order.
pub fn list(children: &[(&str, usize, &str)]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(digest, size, platform)| {
            let mut parts = platform.split('/');
            let mut p = serde_json::Map::new();
            p.insert("architecture".into(), parts.nth(1).unwrap_or_default().into());
            p.insert("os".into(), platform.split('/').next().unwrap_or_default().into());
            if let Some(variant) = parts.next() {
                p.insert("variant".into(), variant.into());
            }
            serde_json::json!({"mediaType": DOCKER_MANIFEST, "size": size, "digest": digest, "platform": p})
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": manifests,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The record of a leg (`registry::index`): an OCI manifest with the leg's config and layers (so
/// that it references nothing the registry lacks) and annotations naming the leg.
pub fn leg_record(leg: &serde_json::Value, digest: &str, platform: &str, size: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": leg.get("config").cloned().unwrap_or_default(),
        "layers": leg.get("layers").cloned().unwrap_or_else(|| serde_json::json!([])),
        "annotations": {LEG_DIGEST: digest, LEG_PLATFORM: platform, "dev.shipit.leg.size": size.to_string()},
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The leg a record names (`None`: not a record).
pub fn recorded_leg(record: &serde_json::Value) -> Option<String> {
    let digest = record.get("annotations")?.get(LEG_DIGEST)?.as_str()?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_string())
}

/// `os/arch[/variant]` of a manifest's `platform`, or of an image config.
fn platform_of(p: &serde_json::Value) -> Option<String> {
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    Some(match p.get("variant").and_then(|v| v.as_str()) {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

/// The platforms of an image index's children, attestations (`unknown/unknown`) left out; `None`
/// for a plain image.
pub fn index_platforms(manifest: &serde_json::Value) -> Option<Vec<String>> {
    let list = manifest.get("manifests")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m.get("platform").and_then(platform_of))
            .filter(|p| !p.starts_with("unknown/"))
            .collect(),
    )
}

/// The platform an image config says (`os`, `architecture`, `variant`).
pub fn config_platform(config: &serde_json::Value) -> Option<String> {
    platform_of(config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_names_each_child_with_its_platform_and_a_record_names_its_leg() {
        let list = super::list(&[
            ("sha256:a", 10, "linux/amd64"),
            ("sha256:b", 11, "linux/arm64/v8"),
        ]);
        let json: serde_json::Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(json["mediaType"], super::DOCKER_LIST);
        assert_eq!(
            super::index_platforms(&json).unwrap(),
            vec!["linux/amd64", "linux/arm64/v8"]
        );
        assert_eq!(
            super::index_children(&json).unwrap(),
            vec!["sha256:a", "sha256:b"]
        );
        let leg = super::image(&("sha256:c".into(), 3), &[("sha256:l".into(), 4)]);
        let leg: serde_json::Value = serde_json::from_slice(&leg).unwrap();
        assert_eq!(super::config_digest(&leg), Some("sha256:c"));
        let digest = format!("sha256:{}", "0".repeat(64));
        let record = super::leg_record(&leg, &digest, "linux/arm64", 300);
        let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(super::recorded_leg(&record), Some(digest));
        assert_eq!(super::recorded_leg(&leg), None);
        assert_eq!(
            super::config_platform(&serde_json::json!({"os": "linux", "architecture": "arm64"}))
                .as_deref(),
            Some("linux/arm64")
        );
    }

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
