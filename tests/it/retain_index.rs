//! Retention never deletes a manifest that a kept image index references: a multi-arch index
//! pushed to the real Distribution registry through its HTTP API, then `shipit retain --apply`.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::git::TestRepo;
use crate::support::registry::{Oci, manifest};
use crate::support::shipit::{run, shipit};
use crate::support::{registry, unique};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn put(name: &str, reference: &str, media_type: &str, body: &[u8]) -> reqwest::StatusCode {
    block(
        reqwest::Client::new()
            .put(format!(
                "http://{}/v2/{name}/manifests/{reference}",
                registry()
            ))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send(),
    )
    .unwrap()
    .status()
}

fn exists(name: &str, digest: &str) -> bool {
    block(
        reqwest::Client::new()
            .head(format!("http://{}/v2/{name}/manifests/{digest}", registry()))
            .header(
                "accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )
            .send(),
    )
    .unwrap()
    .status()
    .is_success()
}

#[test]
fn retention_never_deletes_a_manifest_that_a_kept_index_references() {
    let prefix = unique("retain-index");
    let name = format!("{prefix}/api");
    let oci = Oci::new(&registry(), None);
    // Two children: one carries an old version of its own (expired at retain = 1), one is pushed
    // by digest only. The index that names both is the newest version.
    let a = oci.push(&name, "amd64", &["stage-1.0.0"]);
    let b = oci.push(&name, "arm64", &[]);
    let b_manifest = manifest("arm64").1;
    assert_eq!(
        put(
            &name,
            &b,
            "application/vnd.oci.image.manifest.v1+json",
            &b_manifest
        ),
        201
    );
    let a_len = manifest("amd64").1.len();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a, "size": a_len,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": b, "size": b_manifest.len(),
             "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    }))
    .unwrap();
    let index_digest = format!("sha256:{}", hex::encode(Sha256::digest(&index)));
    assert_eq!(
        put(
            &name,
            "stage-1.0.1",
            "application/vnd.oci.image.index.v1+json",
            &index
        ),
        201
    );
    // One older image nothing references, which retention removes.
    let old = oci.push(&name, "old", &["stage-0.9.0"]);

    let repo = TestRepo::with_config(
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\nretain = 1\n\n[services.api]\npath = \"services/api\"\n",
            registry()
        ),
        &["services/api"],
    );
    let r = run({
        let mut c = shipit(&repo.dir);
        c.args(["retain", "--apply"]);
        c
    });
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(exists(&name, &index_digest), "the kept index stays");
    assert!(
        exists(&name, &a),
        "the child with an expired tag of its own stays: {}",
        r.stdout
    );
    assert!(exists(&name, &b), "the untagged child stays");
    assert!(
        !exists(&name, &old),
        "an unreferenced old image goes: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("referenced by the image index"),
        "{}",
        r.stdout
    );
}
