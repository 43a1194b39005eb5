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

/// Pushes `seed`'s image under `tag` through `client`; its descriptor.
fn push_image(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    repository: &str,
    seed: &str,
    tag: &str,
) -> shipit::registry::Descriptor {
    let (config, manifest) = image(seed);
    rt.block_on(client.put_blob(repository, config)).unwrap();
    let media = "application/vnd.oci.image.manifest.v1+json";
    let digest = rt
        .block_on(client.put_manifest_bytes_under_tag(repository, tag, media, &manifest))
        .unwrap();
    rt.block_on(client.descriptor(repository, &digest)).unwrap()
}

const PROVENANCE: &str = "application/vnd.in-toto+json";
const SBOM: &str = "application/vnd.cyclonedx+json";

/// Attaches a provenance and an SBOM to an image, twice (the second attach is the same artifact),
/// and finds them again: all, and by artifact type, each payload read back by its digest.
fn attaches_and_finds(rt: &tokio::runtime::Runtime, client: &Client, repository: &str) -> String {
    let subject = push_image(rt, client, repository, &unique("subject"), "prod-1.0.0");
    let other = push_image(rt, client, repository, &unique("other"), "prod-1.0.1");
    let none = std::collections::BTreeMap::new();
    let attach = |artifact_type: &str, payload: &'static [u8]| {
        rt.block_on(client.attach(
            repository,
            &subject,
            artifact_type,
            artifact_type,
            Bytes::from_static(payload),
            &none,
        ))
        .unwrap()
    };
    let provenance = attach(PROVENANCE, b"{\"_type\": \"statement\"}");
    let sbom = attach(SBOM, b"{\"bomFormat\": \"CycloneDX\"}");
    assert_eq!(
        attach(PROVENANCE, b"{\"_type\": \"statement\"}"),
        provenance
    );
    let subject_digest = subject.digest().to_string();
    let all = rt
        .block_on(client.referrers(repository, &subject_digest, None))
        .unwrap();
    let mut found: Vec<String> = all.iter().map(|d| d.digest().to_string()).collect();
    found.sort();
    let mut wanted = vec![provenance.clone(), sbom.clone()];
    wanted.sort();
    assert_eq!(found, wanted, "each artifact once");
    let only = rt
        .block_on(client.referrers(repository, &subject_digest, Some(SBOM)))
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest().to_string(), sbom);
    assert_eq!(
        only[0]
            .artifact_type()
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some(SBOM)
    );
    // The artifact's manifest names the subject, and its layer is the payload.
    let m = rt
        .block_on(client.manifest(repository, &sbom))
        .unwrap()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    assert_eq!(m["subject"]["digest"], subject_digest);
    assert_eq!(m["artifactType"], SBOM);
    assert_eq!(
        rt.block_on(client.artifact_payload(repository, &sbom))
            .unwrap(),
        Bytes::from_static(b"{\"bomFormat\": \"CycloneDX\"}")
    );
    // Another image has none.
    assert!(
        rt.block_on(client.referrers(repository, other.digest().as_ref(), None))
            .unwrap()
            .is_empty()
    );
    subject_digest
}

#[test]
fn artifacts_attach_to_an_image_and_are_found_through_the_tag_schema() {
    let rt = rt();
    let prefix = unique("referrers");
    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&registry(), Some(&prefix), &env).unwrap();
    let subject = attaches_and_finds(&rt, &client, "api");
    // The Distribution registry has no referrers API: the index tagged sha256-<hex> lists them.
    let oci = crate::support::registry::Oci::new(&registry(), None);
    let schema = subject.replacen(':', "-", 1);
    assert!(
        oci.tags(&format!("{prefix}/api")).contains(&schema),
        "{:?}",
        oci.tags(&format!("{prefix}/api"))
    );
}

#[test]
fn artifacts_attach_on_the_ecr_stand_in_and_ecr_lists_them() {
    let rt = rt();
    let client = Client::ecr(&sdk_config(&rt, &ecr::endpoint()));
    let repository = format!("{}/api", unique("referrers-ecr"));
    rt.block_on(client.push_target(&repository, &ecr_config()))
        .unwrap();
    attaches_and_finds(&rt, &client, &repository);
    let calls: Vec<String> = ecr::calls_for(&repository)
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert!(
        calls.iter().any(|op| op == "ListImageReferrers"),
        "ECR's own referrers call: {calls:?}"
    );
}

/// Two versions of an image, each with a provenance and an SBOM attached; `shipit retain --apply`
/// at retain = 1 (`project` names the registry, `vars` the environment). The old image goes
/// with its referrers, the new one keeps its own; `tags` lists the repository's tags after.
fn retention_with_referrers(
    client: &Client,
    repository: &str,
    project: &str,
    vars: &[(&str, String)],
    tags: impl Fn() -> Vec<String>,
) {
    let rt = rt();
    let none = std::collections::BTreeMap::new();
    let mut attached = Vec::new();
    for (seed, tag) in [("old", "stage-1.0.0"), ("new", "stage-1.0.1")] {
        let subject = push_image(&rt, client, repository, &unique(seed), tag);
        let artifacts: Vec<String> = [PROVENANCE, SBOM]
            .into_iter()
            .map(|t| {
                rt.block_on(client.attach(
                    repository,
                    &subject,
                    t,
                    t,
                    Bytes::from(format!("{seed} {t}")),
                    &none,
                ))
                .unwrap()
            })
            .collect();
        attached.push((subject.digest().to_string(), artifacts));
    }
    let repo = crate::support::git::TestRepo::with_config(
        &format!("[project]\n{project}\nretain = 1\n\n[services.api]\npath = \"services/api\"\n"),
        &["services/api"],
    );
    let r = crate::support::shipit::run({
        let mut c = crate::support::shipit::shipit(&repo.dir);
        c.args(["retain", "--apply"]);
        for (k, v) in vars {
            c.env(k, v);
        }
        c
    });
    assert_eq!(r.code, 0, "{}", r.transcript());
    let there = |digest: &str| {
        rt.block_on(client.manifest(repository, digest))
            .unwrap()
            .is_some()
    };
    let (old, old_artifacts) = &attached[0];
    let (new, new_artifacts) = &attached[1];
    assert!(!there(old), "the expired image goes: {}", r.stdout);
    for a in old_artifacts {
        assert!(!there(a), "its referrers go with it: {}", r.stdout);
    }
    assert!(there(new), "the newest version stays: {}", r.stdout);
    for a in new_artifacts {
        assert!(there(a), "a kept image keeps its referrers: {}", r.stdout);
    }
    assert_eq!(
        tags(),
        [new.replacen(':', "-", 1), "stage-1.0.1".to_string()],
        "the referrers tag of the old image went with it, the new one's stays"
    );
    assert_eq!(
        rt.block_on(client.referrers(repository, new, None))
            .unwrap()
            .len(),
        2
    );
    assert!(r.stdout.contains("a referrer of"), "{}", r.stdout);
}

#[test]
fn retention_removes_referrers_with_their_subject_and_keeps_those_of_a_kept_image() {
    let prefix = unique("retain-referrers");
    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&registry(), Some(&prefix), &env).unwrap();
    let oci = crate::support::registry::Oci::new(&registry(), None);
    retention_with_referrers(
        &client,
        "api",
        &format!("registry = \"oci://{}/{prefix}\"", registry()),
        &[],
        || oci.tags(&format!("{prefix}/api")),
    );
}

#[test]
fn retention_removes_referrers_with_their_subject_on_the_ecr_stand_in() {
    let rt = rt();
    let prefix = unique("retain-referrers-ecr");
    let repository = format!("{prefix}/api");
    let client = Client::ecr(&sdk_config(&rt, &ecr::endpoint()));
    rt.block_on(client.push_target(&repository, &ecr_config()))
        .unwrap();
    let (_, oci) = ecr::stand_in();
    let vars = [
        ("AWS_ENDPOINT_URL_ECR", ecr::endpoint()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ];
    retention_with_referrers(
        &client,
        &repository,
        &format!("registry = \"ecr\"\nrepository = \"{prefix}/{{service}}\""),
        &vars,
        || oci.tags(&repository),
    );
}

/// A registry that keeps the referrers itself answers `OCI-Subject` to the artifact's PUT (ECR
/// does): then no tag schema is written. A blob already there is not sent again (HEAD, no
/// upload). A blob whose bytes are not its digest is refused.
#[test]
fn a_registry_that_answers_oci_subject_gets_no_tag_schema_and_a_wrong_blob_is_refused() {
    let subject_digest = shipit::registry::digest_of(b"the image");
    let answer = subject_digest.clone();
    let fake = crate::support::netfake::Server::scripted(move |req, _| {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("HEAD", p) if p.contains("/blobs/") => (200, vec![], String::new()),
            ("PUT", p) if p.contains("/manifests/sha256:") => (
                201,
                vec![("OCI-Subject".to_string(), answer.clone())],
                String::new(),
            ),
            ("GET", p) if p.contains("/blobs/") => (200, vec![], "tampered".to_string()),
            _ => (404, vec![], String::new()),
        }
    });
    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&fake.addr, None, &env).unwrap();
    let rt = rt();
    let subject = shipit::registry::referrers::descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        &subject_digest,
        9,
    )
    .unwrap();
    rt.block_on(client.attach(
        "api",
        &subject,
        PROVENANCE,
        PROVENANCE,
        Bytes::from_static(b"{}"),
        &std::collections::BTreeMap::new(),
    ))
    .unwrap();
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.split("sha256").next().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            "HEAD /v2/api/blobs/",
            "HEAD /v2/api/blobs/",
            "PUT /v2/api/manifests/"
        ],
        "no upload of what is there, no tag schema"
    );
    let wanted = shipit::registry::digest_of(b"the bytes");
    let err = rt.block_on(client.blob("api", &wanted)).unwrap_err();
    assert!(
        err.to_string().contains(&format!("not the {wanted}")),
        "{err}"
    );
}
