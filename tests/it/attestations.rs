//! An image's provenance and SBOM: what shipit makes passes the reference parsers (in-toto's
//! `in-toto-attestation` and CycloneDX's `cyclonedx-python-lib`, from PyPI, installed by
//! scripts/test), and a release attaches both to the image it pushes, findable through the
//! referrers tag schema of the Distribution registry; a promotion attaches nothing new.

use bytes::Bytes;
use shipit::attest::{provenance, sbom};
use shipit::registry::Client;

use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{run, shipit};
use crate::support::{busybox, registry, unique};

/// Parses the statement into in-toto's Statement (strict: a field the schema does not know is an
/// error) and validates it, parses its predicate into SLSA provenance v1, and validates the SBOM
/// against the CycloneDX 1.5 JSON schema. `Err` with what they said.
const CHECK: &str = r#"
import json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from cyclonedx.validation.json import JsonStrictValidator
from cyclonedx.schema import SchemaVersion

text = open(sys.argv[1]).read()
Statement.copy_from_pb(json_format.Parse(text, statement_pb2.Statement())).validate()
json_format.ParseDict(json.loads(text)["predicate"], provenance_pb2.Provenance())
errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[2]).read())
if errors:
    sys.exit(f"SBOM: {errors}")
print("valid")
"#;

fn check(statement: &[u8], sbom: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (s, b) = (dir.path().join("s.json"), dir.path().join("b.json"));
    std::fs::write(&s, statement).unwrap();
    std::fs::write(&b, sbom).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", CHECK])
        .arg(&s)
        .arg(&b)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 could not run ({e}): run the tests through scripts/test")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("ModuleNotFoundError"),
        "in-toto-attestation and cyclonedx-python-lib are missing: run the tests through scripts/test, which installs them: {text}"
    );
    match out.status.success() && text.contains("valid") {
        true => Ok(()),
        false => Err(text),
    }
}

const PACKAGE_LOCK: &str = r#"{"lockfileVersion": 3, "packages": {"": {"name": "api"},
    "node_modules/left-pad": {"version": "1.3.0"}, "node_modules/@types/node": {"version": "22.1.0"}}}"#;
const GO_SUM: &str =
    "github.com/pkg/errors v0.9.1 h1:abc=\ngithub.com/pkg/errors v0.9.1/go.mod h1:def=\n";
const CARGO_LOCK: &str = "version = 3\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";

#[test]
fn provenance_and_sbom_pass_the_reference_parsers_and_tampering_does_not() {
    let inputs = provenance::Inputs {
        source: provenance::Source {
            repository: "https://github.com/acme/shop".into(),
            git_ref: "refs/heads/main".into(),
            commit: "a".repeat(40),
        },
        workflow: Some(provenance::Workflow {
            workflow_ref: "acme/shop/.github/workflows/release.yml@refs/heads/main".into(),
            run_id: "42".into(),
            run_attempt: "2".into(),
            run_url: "https://github.com/acme/shop/actions/runs/42/attempts/2".into(),
        }),
        service: "api".into(),
        fingerprint: "0123456789abcdef".into(),
        ci_toml: shipit::registry::digest_of(b"[project]\n"),
        dockerfile: "services/api/Dockerfile".into(),
        context: "services/api".into(),
        target: Some("runtime".into()),
        build_args: vec!["NODE_ENV".into()],
        secrets: vec!["npm".into()],
        base_images: vec![
            provenance::BaseImage {
                reference: "node:22".into(),
                digest: Some(shipit::registry::digest_of(b"node")),
            },
            provenance::BaseImage {
                reference: "ghcr.io/acme/base:${TAG}".into(),
                digest: None,
            },
        ],
        engine_version: "20.10.24".into(),
        started_on: "2026-12-05T21:00:00Z".into(),
    };
    let digest = shipit::registry::digest_of(b"image");
    let statement =
        provenance::statement(&[("registry.example/acme/api".into(), digest)], &inputs).to_json();
    let mut packages = sbom::packages("services/api/package-lock.json", PACKAGE_LOCK);
    packages.extend(sbom::packages("services/api/go.sum", GO_SUM));
    packages.extend(sbom::packages("Cargo.lock", CARGO_LOCK));
    let subject = sbom::Subject {
        service: "api".into(),
        version: "1.2.3".into(),
        base_images: vec![("node:22".into(), Some(shipit::registry::digest_of(b"node")))],
        timestamp: "2026-12-05T21:00:00Z".into(),
    };
    let document = sbom::document(&subject, &packages);
    check(&statement, &document).unwrap();

    // The parsers refuse what is not right: they are no rubber stamp.
    let mut bad: serde_json::Value = serde_json::from_slice(&statement).unwrap();
    bad["predicate"]["runDetails"]["builder"]["idd"] = "x".into();
    assert!(check(&serde_json::to_vec(&bad).unwrap(), &document).is_err());
    let mut bad: serde_json::Value = serde_json::from_slice(&document).unwrap();
    bad["components"][0]["type"] = "spaceship".into();
    assert!(check(&statement, &serde_json::to_vec(&bad).unwrap()).is_err());
}

#[test]
fn a_release_attaches_provenance_and_sbom_to_the_image_it_pushes_and_a_promotion_nothing() {
    let prefix = unique("attest-release");
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\n",
            registry()
        ),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY package-lock.json go.sum /app/\n",
    );
    repo.write("services/api/package-lock.json", PACKAGE_LOCK);
    repo.write("services/api/go.sum", GO_SUM);
    // A lockfile the build does not copy is not in the SBOM.
    repo.write("services/api/tools/Cargo.lock", CARGO_LOCK);
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("initial import");
    let head = repo.head();
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    let r = run({
        let mut c = shipit(&repo.dir);
        c.args(["release", "--branch", "develop", "--all"]);
        c
    });
    assert_eq!(r.code, 0, "{}", r.transcript());

    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&registry(), Some(&prefix), &env).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let digest = rt
        .block_on(client.digest("api", "stage-0.1.0"))
        .unwrap()
        .unwrap();
    let one = |artifact_type: &str| -> Bytes {
        let found = rt
            .block_on(client.referrers("api", &digest, Some(artifact_type)))
            .unwrap();
        assert_eq!(found.len(), 1, "{artifact_type}: {found:?}");
        rt.block_on(client.artifact_payload("api", found[0].digest().as_ref()))
            .unwrap()
    };
    let statement = one(provenance::ARTIFACT_TYPE);
    let document = one(sbom::ARTIFACT_TYPE);
    check(&statement, &document).unwrap();
    let parsed = provenance::Statement::parse(&statement).unwrap();
    assert_eq!(parsed.subject_digests(), std::slice::from_ref(&digest));
    assert_eq!(parsed.commit(), Some(head.as_str()));
    assert_eq!(parsed.service(), Some("api"));
    let tags = Oci::new(&registry(), None).tags(&format!("{prefix}/api"));
    let fp = tags.iter().find(|t| t.starts_with("fp-")).unwrap();
    assert_eq!(parsed.fingerprint(), Some(fp.trim_start_matches("fp-")));
    let text = String::from_utf8_lossy(&document);
    for purl in [
        "pkg:npm/left-pad@1.3.0",
        "pkg:npm/%40types/node@22.1.0",
        "pkg:golang/github.com/pkg/errors@v0.9.1",
    ] {
        assert!(text.contains(purl), "{purl}: {text}");
    }
    assert!(!text.contains("pkg:cargo"), "not copied: {text}");
    // Found through the tag schema: the Distribution registry has no referrers API.
    assert!(
        tags.contains(&digest.replacen(':', "-", 1)),
        "the referrers tag: {tags:?}"
    );
    assert!(r.stderr.contains("provenance sha256:"), "{}", r.stderr);

    // A promotion keeps the digest: the same two referrers, nothing new. (`main` is checked out.)
    let prod = run({
        let mut c = shipit(&repo.dir);
        c.args(["release", "--branch", "main", "--all"]);
        c
    });
    assert_eq!(prod.code, 0, "{}", prod.transcript());
    assert_eq!(
        rt.block_on(client.digest("api", "prod-0.1.0")).unwrap(),
        Some(digest.clone())
    );
    assert_eq!(
        rt.block_on(client.referrers("api", &digest, None))
            .unwrap()
            .len(),
        2
    );
}

/// A service whose test step writes `out/bom.json` (`sbom = "out/bom.json"`) with `content`.
fn own_sbom_repo(prefix: &str, content: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"oci://{}/{prefix}\"\n\n[services.api]\npath = \"services/api\"\ntest = \"sh ./test.sh\"\nsbom = \"out/bom.json\"\n",
            registry()
        ),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    );
    repo.write(
        "services/api/test.sh",
        &format!("mkdir -p out && cat > out/bom.json <<'EOF'\n{content}\nEOF\n"),
    );
    repo.write("services/api/.gitignore", "out/\n");
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("initial import");
    repo.git(&["branch", "-f", "develop", "HEAD"]);
    repo
}

#[test]
fn a_services_own_sbom_is_attached_and_one_that_is_no_cyclonedx_stops_before_the_push() {
    let own = r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"type": "library", "name": "mine", "version": "1"}]}"#;
    let prefix = unique("own-sbom");
    let repo = own_sbom_repo(&prefix, own);
    let release = |repo: &TestRepo| {
        run({
            let mut c = shipit(&repo.dir);
            c.args(["release", "--branch", "develop", "--all"]);
            c
        })
    };
    let r = release(&repo);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let env = shipit::github::Env::from_pairs([]);
    let client = Client::oci(&registry(), Some(&prefix), &env).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let digest = rt
        .block_on(client.digest("api", "stage-0.1.0"))
        .unwrap()
        .unwrap();
    let found = rt
        .block_on(client.referrers("api", &digest, Some(sbom::ARTIFACT_TYPE)))
        .unwrap();
    assert_eq!(found.len(), 1);
    let payload = rt
        .block_on(client.artifact_payload("api", found[0].digest().as_ref()))
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&payload).trim(), own);

    let prefix = unique("bad-sbom");
    let repo = own_sbom_repo(&prefix, r#"{"spdxVersion": "SPDX-2.3"}"#);
    let r = release(&repo);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.contains("out/bom.json") && r.stderr.contains("not a CycloneDX JSON document"),
        "{}",
        r.stderr
    );
    assert!(
        Oci::new(&registry(), None)
            .tags(&format!("{prefix}/api"))
            .is_empty(),
        "nothing is pushed"
    );
}
