//! `sign = "github"`: keyless signing against the Sigstore stand-in (scripts/sigstore-server.py:
//! GitHub Actions' token endpoint, Fulcio and Rekor, none reachable from here for real). A release
//! signs what it pushes with a Fulcio certificate for the workflow, logs it in Rekor, and its
//! rollout verifies the certificate identity against the instance's trusted root; a signature by
//! another repository's workflow stops before RegisterTaskDefinition. The bundle is read by an
//! independent tool (sigstore-protobuf-specs) and its certificate chain and signature checked
//! with `cryptography`.

use std::process::Command;

use shipit::sign::bundle;
use shipit::sign::keyless::{self, GITHUB_ISSUER, Identity};
use shipit::sign::root;

use crate::support::ecs_double::EcsDouble;
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{registry, sigstore, unique};
use crate::verify::{Stage, stage};

const REPOSITORY: &str = "clinic/monorepo";
const WORKFLOW: &str = "clinic/monorepo/.github/workflows/release.yml@refs/heads/develop";
const BEARER: &str = "actions-request-token-4f1c9a";

struct World {
    repo: TestRepo,
    double: EcsDouble,
    oci: Oci,
    client: shipit::registry::Client,
    rt: tokio::runtime::Runtime,
    image: String,
    root: Vec<u8>,
}

fn trusted_root() -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=10).read())",
            &format!("{}/trusted_root.json", sigstore()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn world() -> World {
    let prefix = unique("keyless");
    let url = sigstore();
    let toml = format!(
        r#"[project]
registry = "oci://{host}/{prefix}"
sign = {{ keyless = "github", fulcio = "{url}", rekor = "{url}", trusted_root = "sigstore/trusted_root.json" }}

[environments.stage]
branch = "develop"
clusters = ["stage-a"]
rollout_timeout = "3s"
poll_interval = "50ms"
verify = "provenance"

[services.api]
path = "services/api"
"#,
        host = registry()
    );
    let root = trusted_root();
    let repo = TestRepo::new();
    repo.write("ci.toml", &toml);
    repo.write(
        "sigstore/trusted_root.json",
        std::str::from_utf8(&root).unwrap(),
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
        root,
    }
}

impl World {
    /// `release --branch develop --all` as GitHub Actions runs it, with the token endpoint of
    /// `workflow` (`None`: no `id-token: write`, so no token endpoint).
    fn release(&self, workflow: Option<&str>) -> Run {
        let mut cmd = shipit(&self.repo.dir);
        let report = self.repo.sibling("report.json");
        cmd.args(["release", "--branch", "develop", "--all", "--report"])
            .arg(&report)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", REPOSITORY)
            .env("AWS_ENDPOINT_URL_ECS", &self.double.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        if let Some(w) = workflow {
            cmd.env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{}/token?api-version=2.0&workflow={w}", sigstore()),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
        }
        run(cmd)
    }

    fn name(&self) -> String {
        self.image.split_once('/').unwrap().1.to_string()
    }

    fn bundles(&self, digest: &str) -> Vec<bundle::Opened> {
        use shipit::sign::Referrers;
        self.rt
            .block_on(self.client.bundles("api", digest))
            .unwrap()
            .iter()
            .filter_map(|b| bundle::open(b).ok())
            .collect()
    }

    fn running(&self) -> String {
        self.double.current("stage-a", "api").1["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[test]
fn a_release_signs_keyless_and_its_rollout_checks_the_workflow_identity() {
    let w = world();
    let r = w.release(Some(WORKFLOW));
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(!r.transcript().contains(BEARER), "{}", r.transcript());
    let (digest, _) = w.oci.inspect(&w.name(), "stage-0.1.0");
    assert_eq!(w.running(), format!("{}@{digest}", w.image));
    // The report names what rolled out: the digest checked, not the tag.
    let report = std::fs::read_to_string(w.repo.sibling("report.json")).unwrap();
    assert!(
        report.contains(&format!("\"{}@{digest}\"", w.image)),
        "{report}"
    );
    let bundles = w.bundles(&digest);
    let policy = keyless::Policy {
        root: root::parse(&w.root).unwrap(),
        identity: Identity {
            issuer: GITHUB_ISSUER.into(),
            subject: format!("https://github.com/{WORKFLOW}"),
        },
    };
    for predicate in [bundle::COSIGN_SIGN, bundle::SLSA_PROVENANCE_V1] {
        let b = bundles
            .iter()
            .find(|o| o.predicate_type == predicate)
            .unwrap_or_else(|| panic!("no {predicate} bundle"));
        let signed = keyless::verify(b, &policy).unwrap();
        assert_eq!(signed.subject, format!("https://github.com/{WORKFLOW}"));
        assert!(b.bundle.verification_material.public_key.is_none());
    }
    let signature = bundles
        .iter()
        .find(|o| o.predicate_type == bundle::COSIGN_SIGN)
        .unwrap();
    independent_check(&signature.bundle.to_json(), &w.root, &digest);
}

#[test]
fn a_signature_by_another_repositorys_workflow_stops_the_rollout() {
    let w = world();
    let first = w.release(Some(WORKFLOW));
    assert_eq!(first.code, 0, "{}", first.transcript());
    let running = w.running();
    let registered = w.double.count("RegisterTaskDefinition");
    w.repo.write("services/api/app.txt", "api, changed");
    w.repo.commit("change api");
    w.repo.git(&["branch", "-f", "develop", "HEAD"]);
    let fork = "mallory/monorepo/.github/workflows/release.yml@refs/heads/develop";
    let r = w.release(Some(fork));
    assert_eq!(r.code, 1, "{}", r.transcript());
    let said = r
        .stderr
        .lines()
        .map(|l| l.trim_start().trim_start_matches(['│', '×']).trim())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("not by the trusted identity"),
        "{}",
        r.transcript()
    );
    assert!(said.contains("mallory/monorepo"), "{}", r.transcript());
    assert_eq!(
        w.double.count("RegisterTaskDefinition"),
        registered,
        "{:?}",
        w.double.calls()
    );
    assert_eq!(w.running(), running);
}

#[test]
fn keyless_signing_outside_actions_is_bad_input_and_pushes_nothing() {
    let w = world();
    let r = w.release(None);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("ACTIONS_ID_TOKEN_REQUEST_URL") && r.stderr.contains("id-token: write"),
        "{}",
        r.transcript()
    );
    assert!(
        w.oci.tags(&w.name()).is_empty(),
        "{:?}",
        w.oci.tags(&w.name())
    );
    assert_eq!(w.double.count("RegisterTaskDefinition"), 0);
}

/// The bundle read by sigstore-protobuf-specs; its leaf certificate checked with `cryptography`
/// against the trusted root's intermediate, its DSSE signature with the leaf's key, and its
/// statement's subject.
fn independent_check(bundle_json: &[u8], root: &[u8], digest: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bundle.json"), bundle_json).unwrap();
    std::fs::write(dir.path().join("root.json"), root).unwrap();
    let script = r#"
import base64, json, sys
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
d = sys.argv[1]
b = Bundle.from_dict(json.load(open(d + "/bundle.json")))
assert b.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json", b.media_type
leaf = x509.load_der_x509_certificate(b.verification_material.certificate.raw_bytes)
root = json.load(open(d + "/root.json"))
chain = root["certificateAuthorities"][0]["certChain"]["certificates"]
intermediate = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
leaf.verify_directly_issued_by(intermediate)
entry = b.verification_material.tlog_entries[0]
assert entry.kind_version.kind == "dsse", entry.kind_version
assert entry.inclusion_promise.signed_entry_timestamp
env = b.dsse_envelope
t = env.payload_type.encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(env.payload), env.payload)
leaf.public_key().verify(env.signatures[0].sig, pae, ec.ECDSA(hashes.SHA256()))
san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
print(san.get_values_for_type(x509.UniformResourceIdentifier)[0])
print(json.loads(env.payload)["subject"][0]["digest"]["sha256"])
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
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], format!("https://github.com/{WORKFLOW}"));
    assert_eq!(lines[1], digest.trim_start_matches("sha256:"));
}

/// A trusted root that is not there, or not one, stops the release before anything is pushed:
/// exit 2, naming the file.
#[test]
fn a_missing_or_broken_trusted_root_is_bad_input() {
    let w = world();
    let toml = std::fs::read_to_string(w.repo.dir.join("ci.toml")).unwrap();
    for (path, text) in [
        ("sigstore/missing.json", None),
        ("sigstore/broken.json", Some("{\"mediaType\": 1}")),
    ] {
        if let Some(text) = text {
            w.repo.write(path, text);
        }
        w.repo
            .write("ci.toml", &toml.replace("sigstore/trusted_root.json", path));
        w.repo.commit("another trusted root");
        w.repo.git(&["branch", "-f", "develop", "HEAD"]);
        let r = w.release(Some(WORKFLOW));
        assert_eq!(r.code, 2, "{}", r.transcript());
        assert!(r.stderr.contains(path), "{}", r.transcript());
        assert!(
            w.oci.tags(&w.name()).is_empty(),
            "{:?}",
            w.oci.tags(&w.name())
        );
    }
}
