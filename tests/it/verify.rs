//! `sign` and `verify`: a throwaway key signs during a release and `deploy` verifies; each
//! tampering (a signature over another digest, a provenance of another commit, a tag moved to an
//! unsigned image, a bundle signed by another key) stops before RegisterTaskDefinition, which the
//! ECS double shows by recording no such call. The bundles shipit writes are read by an
//! independent tool (sigstore-protobuf-specs) and their signature checked with `cryptography`.

use std::process::Command;

use p256::pkcs8::EncodePrivateKey;
use shipit::sign::{Key, Referrers, bundle};

use crate::support::ecs_double::{EcsDouble, Script};
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{busybox, registry, unique};

const SERVER: &str = "https://github.com";
const REPOSITORY: &str = "clinic/monorepo";
const KEY_VAR: &str = "SHIPIT_TEST_SIGNING_KEY";

struct World {
    repo: TestRepo,
    double: EcsDouble,
    oci: Oci,
    client: shipit::registry::Client,
    rt: tokio::runtime::Runtime,
    /// `host/prefix/api`.
    image: String,
    key: Key,
    /// The key as PEM (PKCS#8), what the variable holds.
    pem: String,
}

fn world(verify: &str) -> World {
    let prefix = unique("verify");
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = secret
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let key = Key::from_pem(&pem, KEY_VAR).unwrap();
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"
sign = {{ key = "env:{KEY_VAR}" }}

[environments.stage]
branch = "develop"
clusters = ["stage-a"]
rollout_timeout = "3s"
poll_interval = "50ms"
verify = "{verify}"
verify_key = "keys/cosign.pub"

[services.api]
path = "services/api"
"#,
        host = registry()
    );
    let repo = TestRepo::new();
    repo.write("ci.toml", &toml);
    repo.write(
        "keys/cosign.pub",
        &shipit::sign::public_key_pem(&key.verifying()),
    );
    let Stage {
        double,
        oci,
        client,
        rt,
        image,
    } = stage(&repo, &prefix);
    World {
        repo,
        double,
        oci,
        client,
        rt,
        image,
        key,
        pem,
    }
}

/// What the signing tests share: the `api` service (a `FROM scratch` image) committed and on
/// `develop`, the ECS double running it from a placeholder tag in `stage-a`, and a registry
/// client under `prefix`.
pub(crate) struct Stage {
    pub double: EcsDouble,
    pub oci: Oci,
    pub client: shipit::registry::Client,
    pub rt: tokio::runtime::Runtime,
    /// `host/prefix/api`.
    pub image: String,
}

pub(crate) fn stage(repo: &TestRepo, prefix: &str) -> Stage {
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY app.txt /app.txt\n",
    );
    repo.write("services/api/app.txt", "api");
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("initial import");
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let double = EcsDouble::start();
    let image = format!("{}/{prefix}/api", registry());
    double.service(
        "stage-a",
        "api",
        "api",
        &format!("{image}:placeholder"),
        Script::SucceedAfter(1),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client =
        shipit::registry::Client::oci(&registry(), Some(prefix), &shipit::github::Env::default())
            .unwrap();
    Stage {
        double,
        oci: Oci::new(&registry(), None),
        client,
        rt,
        image,
    }
}

impl World {
    fn command(&self, args: &[&str]) -> Run {
        let mut cmd = shipit(&self.repo.dir);
        cmd.args(args)
            .env(KEY_VAR, &self.pem)
            .env("GITHUB_SERVER_URL", SERVER)
            .env("GITHUB_REPOSITORY", REPOSITORY)
            .env("AWS_ENDPOINT_URL_ECS", &self.double.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        run(cmd)
    }

    fn deploy(&self, version: &str) -> Run {
        self.command(&[
            "deploy",
            "--env",
            "stage",
            "--service",
            "api",
            "--version",
            version,
        ])
    }

    /// The repository's name in the registry under the test's prefix.
    fn name(&self) -> String {
        self.image
            .split_once('/')
            .map(|(_, n)| n.to_string())
            .unwrap()
    }

    /// An image built (the test says) from `commit`, under `stage-VERSION`; its digest.
    fn seed(&self, seed: &str, commit: &str, version: &str) -> String {
        self.oci.push_labelled(
            &self.name(),
            seed,
            &[("org.opencontainers.image.revision", commit)],
            &[&format!("stage-{version}")],
        )
    }

    fn attach(&self, subject: &str, signed: &bundle::Bundle, predicate_type: &str) {
        self.rt
            .block_on(
                self.client
                    .attach_bundle("api", subject, &signed.to_json(), predicate_type),
            )
            .unwrap();
    }

    /// `digest` signed by `key` as cosign signs an image, and a provenance of it naming `commit`.
    fn sign(&self, key: &Key, digest: &str, commit: &str) {
        let statement = bundle::signature_statement(&self.image, digest);
        self.attach(digest, &key.bundle(&statement), bundle::COSIGN_SIGN);
        self.attach(
            digest,
            &key.bundle(&provenance(digest, commit)),
            bundle::SLSA_PROVENANCE_V1,
        );
    }

    fn bundles(&self, digest: &str) -> Vec<Vec<u8>> {
        self.rt
            .block_on(self.client.bundles("api", digest))
            .unwrap()
    }

    fn registered(&self) -> bool {
        self.double
            .calls()
            .iter()
            .any(|c| c == "RegisterTaskDefinition" || c == "UpdateService")
    }

    fn running(&self) -> String {
        self.double.current("stage-a", "api").1["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A SLSA provenance v1 statement about `digest`, built from `commit` of this repository.
fn provenance(digest: &str, commit: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "_type": bundle::STATEMENT_V1,
        "subject": [{"name": "api", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": bundle::SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://shipit.dev/release/v1",
                "externalParameters": {
                    "repository": format!("{SERVER}/{REPOSITORY}"),
                    "commit": commit,
                    "workflow": {"repository": format!("{SERVER}/{REPOSITORY}")}
                },
                "resolvedDependencies": [{
                    "uri": format!("git+{SERVER}/{REPOSITORY}@refs/heads/develop"),
                    "digest": {"gitCommit": commit}
                }]
            },
            "runDetails": {"builder": {"id": "https://shipit.dev"}}
        }
    }))
    .unwrap()
}

/// The refusal: exit 1, naming the service, the image, the digest and `what`; nothing registered.
fn refused(w: &World, r: &Run, digest: &str, what: &str) {
    assert_eq!(r.code, 1, "{}", r.transcript());
    // The message as one line (the terminal renderer wraps it).
    let said = r
        .stderr
        .lines()
        .map(|l| l.trim_start().trim_start_matches(['│', '×']).trim())
        .collect::<Vec<_>>()
        .join(" ");
    for part in ["api", &w.image, digest, what] {
        assert!(said.contains(part), "{part}: {}", r.transcript());
    }
    assert!(!w.registered(), "{:?}", w.double.calls());
    assert!(w.running().ends_with(":placeholder"));
}

#[test]
fn deploy_runs_a_signed_image_pinned_to_its_digest() {
    let w = world("provenance");
    let commit = w.repo.head();
    let digest = w.seed("a", &commit, "1.0.0");
    w.sign(&w.key, &digest, &commit);
    let r = w.deploy("1.0.0");
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(w.running(), format!("{}@{digest}", w.image));
}

/// A pinned revision (`HOST/REPO@sha256:…`) names no version, yet the downgrade guard still
/// holds: the version is the one the registry's `stage-X.Y.Z` tags give the running digest.
#[test]
fn a_lower_version_than_a_pinned_one_is_refused_unless_forced() {
    let w = world("signature");
    let commit = w.repo.head();
    let old = w.seed("a", &commit, "1.0.0");
    w.sign(&w.key, &old, &commit);
    let new = w.seed("b", &commit, "1.1.0");
    w.sign(&w.key, &new, &commit);
    let r = w.deploy("1.1.0");
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(w.running(), format!("{}@{new}", w.image));
    let registered = w.double.count("RegisterTaskDefinition");
    let back = w.deploy("1.0.0");
    assert_eq!(back.code, 1, "{}", back.transcript());
    assert!(
        back.stdout
            .contains("runs 1.1.0, which is higher than 1.0.0"),
        "{}",
        back.transcript()
    );
    assert_eq!(
        w.double.count("RegisterTaskDefinition"),
        registered,
        "{:?}",
        w.double.calls()
    );
    assert_eq!(w.running(), format!("{}@{new}", w.image));
    let forced = w.command(&[
        "deploy",
        "--env",
        "stage",
        "--service",
        "api",
        "--version",
        "1.0.0",
        "--force",
    ]);
    assert_eq!(forced.code, 0, "{}", forced.transcript());
    assert_eq!(w.running(), format!("{}@{old}", w.image));
}

#[test]
fn a_signature_over_another_digest_is_refused() {
    let w = world("signature");
    let commit = w.repo.head();
    let signed = w.seed("a", &commit, "1.0.0");
    let other = w.seed("b", &commit, "1.0.1");
    // The signature of the first image, attached to the second.
    let statement = bundle::signature_statement(&w.image, &signed);
    w.attach(&other, &w.key.bundle(&statement), bundle::COSIGN_SIGN);
    let r = w.deploy("1.0.1");
    refused(&w, &r, &other, "over another digest");
    assert!(r.stderr.contains(&signed), "{}", r.stderr);
}

#[test]
fn a_provenance_of_another_commit_is_refused() {
    let w = world("provenance");
    let commit = w.repo.head();
    let digest = w.seed("a", &commit, "1.0.0");
    let other = "0123456789abcdef0123456789abcdef01234567";
    w.sign(&w.key, &digest, other);
    let r = w.deploy("1.0.0");
    refused(
        &w,
        &r,
        &digest,
        &format!("names the commit {other}, not {commit}"),
    );
}

#[test]
fn a_tag_moved_to_an_unsigned_image_is_refused() {
    let w = world("signature");
    let commit = w.repo.head();
    let signed = w.seed("a", &commit, "1.0.0");
    w.sign(&w.key, &signed, &commit);
    // Someone with push rights moves the version tag to an image the pipeline never signed.
    let moved = w.seed("evil", &commit, "1.0.0");
    assert_ne!(moved, signed);
    let r = w.deploy("1.0.0");
    refused(&w, &r, &moved, "no signature is attached");
}

#[test]
fn a_bundle_signed_by_another_key_is_refused() {
    let w = world("signature");
    let commit = w.repo.head();
    let digest = w.seed("a", &commit, "1.0.0");
    w.sign(&Key::generate(), &digest, &commit);
    let r = w.deploy("1.0.0");
    refused(&w, &r, &digest, "not signed by the trusted key");
}

#[test]
fn a_release_signs_what_it_pushes_and_deploy_verifies_it() {
    let w = world("provenance");
    let r = w.command(&["release", "--branch", "develop", "--all"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    // The private key never shows, whole or a line of it.
    for line in w.pem.lines().filter(|l| l.len() > 20) {
        assert!(!r.transcript().contains(line), "{}", r.transcript());
    }
    let (digest, _) = w.oci.inspect(&w.name(), "stage-0.1.0");
    // The rollout ran the digest checked, pinned.
    assert_eq!(w.running(), format!("{}@{digest}", w.image));
    let bundles = w.bundles(&digest);
    let signature = bundles
        .iter()
        .find(|b| bundle::open(b).is_ok_and(|o| o.predicate_type == bundle::COSIGN_SIGN))
        .expect("the release attached a signature");
    independent_check(
        signature,
        &shipit::sign::public_key_pem(&w.key.verifying()),
        &digest,
    );
    // The provenance is signed too, and names this repository and the released commit.
    let provenance = bundles
        .iter()
        .filter_map(|b| bundle::open(b).ok())
        .find(|o| o.predicate_type == bundle::SLSA_PROVENANCE_V1)
        .expect("the release signed its provenance");
    assert!(shipit::sign::check::signed_by(
        &provenance,
        &w.key.verifying()
    ));
    let statement = shipit::attest::provenance::Statement::parse(&provenance.payload).unwrap();
    assert_eq!(statement.commit(), Some(w.repo.head().as_str()));
    assert_eq!(
        statement.repository(),
        Some(format!("{SERVER}/{REPOSITORY}").as_str())
    );
    // deploy of the released version verifies it again: already running, nothing registered.
    let calls = w.double.calls().len();
    let again = w.deploy("0.1.0");
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(again.stdout.contains("already running"), "{}", again.stdout);
    assert!(
        !w.double.calls()[calls..]
            .iter()
            .any(|c| c == "RegisterTaskDefinition")
    );
}

/// The bundle read by sigstore-protobuf-specs (`Bundle.from_dict`), its DSSE signature checked
/// with `cryptography` over the PAE against the public key, and its statement's subject.
fn independent_check(bundle_json: &[u8], public_pem: &str, digest: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bundle.json"), bundle_json).unwrap();
    std::fs::write(dir.path().join("cosign.pub"), public_pem).unwrap();
    let script = r#"
import json, sys
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
d = sys.argv[1]
b = Bundle.from_dict(json.load(open(d + "/bundle.json")))
assert b.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json", b.media_type
env = b.dsse_envelope
t = env.payload_type.encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(env.payload), env.payload)
key = load_pem_public_key(open(d + "/cosign.pub", "rb").read())
key.verify(env.signatures[0].sig, pae, ec.ECDSA(hashes.SHA256()))
statement = json.loads(env.payload)
assert statement["predicateType"] == "https://sigstore.dev/cosign/sign/v1", statement
print(statement["subject"][0]["digest"]["sha256"])
"#;
    let out = Command::new("python3")
        .args(["-c", script, dir.path().to_str().unwrap()])
        .output()
        .expect("python3 from the test venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        digest.trim_start_matches("sha256:")
    );
}

/// A KMS key (moto's KMS: CreateKey ECC_NIST_P256, Sign, GetPublicKey) signs; `deploy` with
/// `verify_key = ARN` reads its public key from KMS and runs what it signed, refusing what another
/// key signed.
#[test]
fn a_kms_key_signs_and_deploy_trusts_its_public_key() {
    let w = world("signature");
    let sdk = crate::support::sdk_config(&w.rt, &crate::support::moto());
    let kms = aws_sdk_kms::Client::new(&sdk);
    let arn =
        w.rt.block_on(
            kms.create_key()
                .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
                .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
                .send(),
        )
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    let key =
        w.rt.block_on(shipit::sign::kms::KmsKey::open(&sdk, &arn))
            .unwrap();
    let signer = shipit::sign::Signer::Kms(key);
    let commit = w.repo.head();
    let digest = w.seed("a", &commit, "1.0.0");
    let statement = bundle::signature_statement(&w.image, &digest);
    let signed = w.rt.block_on(signer.bundle(&statement)).unwrap();
    w.attach(&digest, &signed, bundle::COSIGN_SIGN);
    let toml = std::fs::read_to_string(w.repo.dir.join("ci.toml"))
        .unwrap()
        .replace("keys/cosign.pub", &arn);
    w.repo.write("ci.toml", &toml);
    w.repo.commit("trust the KMS key");
    let deploy = |version: &str| {
        let mut cmd = shipit(&w.repo.dir);
        cmd.args([
            "deploy",
            "--env",
            "stage",
            "--service",
            "api",
            "--version",
            version,
        ])
        .env("GITHUB_SERVER_URL", SERVER)
        .env("GITHUB_REPOSITORY", REPOSITORY)
        .env("AWS_ENDPOINT_URL_ECS", &w.double.endpoint)
        .env("AWS_ENDPOINT_URL_KMS", crate::support::moto())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
        run(cmd)
    };
    // Signed by the throwaway PEM key, not the KMS key: refused.
    let other = w.seed("b", &commit, "1.0.1");
    w.sign(&w.key, &other, &commit);
    let r = deploy("1.0.1");
    refused(&w, &r, &other, "not signed by the trusted key");
    let r = deploy("1.0.0");
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(w.running(), format!("{}@{digest}", w.image));
}
