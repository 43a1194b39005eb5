//! `platforms = [...]`: one build per platform through the real engine (a `FROM scratch` image
//! needs no emulation), each pushed by digest, one image index under the tags; promotion and skip
//! of the index; a matrix's `--platform` legs then `--assemble`; retention of indexes on the ECR
//! stand-in (an index before its children); the `runtimePlatform` pre-flight.

use serde_json::{Value, json};

use crate::support::ecr;
use crate::support::git::TestRepo;
use crate::support::registry::Oci;
use crate::support::shipit::{Run, run, shipit};
use crate::support::{busybox, registry, unique};

const PLATFORMS: &str = "platforms = [\"linux/amd64\", \"linux/arm64\"]\n";

fn repo(registry: &str, project: &str, service: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "ci.toml",
        &format!(
            "[project]\nregistry = \"{registry}\"\n{project}\n[services.api]\npath = \"services/api\"\n{service}\n"
        ),
    );
    repo.write(
        "services/api/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY app.txt /app.txt\n",
    );
    repo.write("services/api/app.txt", "api");
    std::fs::copy(busybox(), repo.dir.join("services/api/busybox")).unwrap();
    repo.commit("initial import");
    repo
}

fn release(repo: &TestRepo, args: &[&str], vars: &[(&str, &str)]) -> Run {
    if let Some(i) = args.iter().position(|a| *a == "--branch")
        && repo.git(&["branch", "--show-current"]).trim() != args[i + 1]
    {
        repo.git(&["branch", "-f", args[i + 1], "HEAD"]);
    }
    let mut cmd = shipit(&repo.dir);
    cmd.arg("release").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(cmd)
}

/// The tags of `name` but the referrers tag schema's (`sha256-<hex>`: provenance and SBOM).
fn tags_of(oci: &Oci, name: &str) -> Vec<String> {
    oci.tags(name)
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

/// A manifest of `name` (by tag or digest) from the registry at `host`: its digest and JSON.
fn manifest(
    host: &str,
    auth: Option<(&str, &str)>,
    name: &str,
    reference: &str,
) -> (String, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .get(format!("http://{host}/v2/{name}/manifests/{reference}"))
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            );
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{name}@{reference}");
        let digest = resp.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        (digest, resp.json().await.unwrap())
    })
}

fn blob(host: &str, name: &str, digest: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(format!("http://{host}/v2/{name}/blobs/{digest}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// The index under `tag`: a Docker manifest list of Docker schema-2 images, one per platform, each
/// image's own config saying its architecture and carrying shipit's labels. Returns the index's
/// digest and its children's.
fn assert_index(name: &str, tag: &str) -> (String, Vec<String>) {
    let host = registry();
    let (digest, index) = manifest(&host, None, name, tag);
    assert_eq!(
        index["mediaType"],
        json!("application/vnd.docker.distribution.manifest.list.v2+json"),
        "{index}"
    );
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{index}");
    let mut digests = Vec::new();
    for (child, arch) in children.iter().zip(["amd64", "arm64"]) {
        assert_eq!(
            child["platform"],
            json!({"os": "linux", "architecture": arch})
        );
        assert_eq!(
            child["mediaType"],
            json!("application/vnd.docker.distribution.manifest.v2+json")
        );
        let d = child["digest"].as_str().unwrap();
        let (_, image) = manifest(&host, None, name, d);
        let config = blob(&host, name, image["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], json!(arch), "{config}");
        assert_eq!(
            config["config"]["Labels"]["dev.shipit.service"],
            json!("api")
        );
        digests.push(d.to_string());
    }
    (digest, digests)
}

#[test]
fn a_two_platform_release_tags_one_index_which_promotion_and_skip_keep() {
    let prefix = unique("platforms");
    let name = format!("{prefix}/api");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), PLATFORMS, "");

    let first = release(&repo, &["--branch", "develop", "--all"], &[]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let tags = tags_of(&oci, &name);
    assert_eq!(
        tags.len(),
        2,
        "only the fingerprint and the version: {tags:?}"
    );
    assert!(
        tags[0].starts_with("fp-") && tags[1] == "stage-0.1.0",
        "{tags:?}"
    );
    let (index, _) = assert_index(&name, "stage-0.1.0");
    assert_eq!(manifest(&registry(), None, &name, &tags[0]).0, index);

    // Promotion to production: the same index, digest unchanged, `latest` on it.
    let promoted = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(promoted.code, 0, "{}", promoted.transcript());
    assert!(
        promoted.stdout.contains("promoted") || promoted.stderr.contains("promoted"),
        "{}",
        promoted.transcript()
    );
    for tag in ["prod-0.1.0", "latest"] {
        assert_eq!(manifest(&registry(), None, &name, tag).0, index, "{tag}");
    }
    // Nothing changed: skipped, nothing pushed.
    let again = release(&repo, &["--branch", "main", "--all"], &[]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(tags_of(&oci, &name).len(), 4, "{:?}", tags_of(&oci, &name));
}

#[test]
fn platform_legs_are_recorded_then_assembled_into_one_index_and_the_records_go() {
    let prefix = unique("legs");
    let name = format!("{prefix}/api");
    let oci = Oci::new(&registry(), None);
    let repo = repo(&format!("oci://{}/{prefix}", registry()), PLATFORMS, "");

    // Assembling before the legs are pushed fails, naming what is missing.
    let early = release(&repo, &["--branch", "develop", "--all", "--assemble"], &[]);
    assert_eq!(early.code, 1, "{}", early.transcript());
    assert!(
        early
            .transcript()
            .contains("no image of linux/amd64, linux/arm64 was pushed"),
        "{}",
        early.transcript()
    );
    assert!(
        tags_of(&oci, &name).is_empty(),
        "{:?}",
        tags_of(&oci, &name)
    );

    let mut legs = Vec::new();
    for platform in ["linux/arm64", "linux/amd64"] {
        let r = release(
            &repo,
            &["--branch", "develop", "--all", "--platform", platform],
            &[],
        );
        assert_eq!(r.code, 0, "{}", r.transcript());
        let tags = tags_of(&oci, &name);
        legs.push(platform);
        assert_eq!(
            tags.len(),
            legs.len(),
            "one record per leg, nothing else: {tags:?}"
        );
        assert!(tags.iter().all(|t| t.contains(".leg.linux-")), "{tags:?}");
    }
    let records: Vec<String> = tags_of(&oci, &name);
    let recorded: Vec<String> = records
        .iter()
        .map(|t| {
            manifest(&registry(), None, &name, t).1["annotations"]["dev.shipit.leg.digest"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let unknown = release(
        &repo,
        &["--branch", "develop", "--all", "--platform", "linux/s390x"],
        &[],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.transcript());
    assert!(unknown.stderr.contains("linux/s390x"), "{}", unknown.stderr);

    // Assembling builds nothing: it needs no engine (the matrix's last job may have none).
    let assembled = release(
        &repo,
        &["--branch", "develop", "--all", "--assemble"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(assembled.code, 0, "{}", assembled.transcript());
    assert!(
        assembled
            .transcript()
            .contains("pushed before: linux/amd64, linux/arm64"),
        "the legs are reused, not built: {}",
        assembled.transcript()
    );
    let tags = tags_of(&oci, &name);
    assert_eq!(tags.len(), 2, "the records are gone: {tags:?}");
    let (_, children) = assert_index(&name, "stage-0.1.0");
    // amd64 first (ci.toml's order), whatever order the legs ran in.
    assert_eq!(children, vec![recorded[0].clone(), recorded[1].clone()]);
}

/// On the ECR stand-in (which refuses to delete an image an index still lists, as ECR does):
/// a second two-platform release with `retain = 1` removes the first index and its children, the
/// index first, and keeps the new index's children, which have no tag of their own.
#[test]
fn retention_on_ecr_deletes_an_old_index_before_its_children_and_keeps_the_new_ones() {
    let (_, oci) = ecr::stand_in();
    let name = format!("{}/api", unique("ecr-platforms"));
    let repo = repo(
        "ecr",
        &format!("repository = \"{name}\"\nretain = 1\n{PLATFORMS}"),
        "",
    );
    let vars = [
        ("AWS_ENDPOINT_URL_ECR", ecr::endpoint()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = release(&repo, &["--branch", "develop", "--all"], &vars);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let old = oci.inspect_index(&name, "stage-0.1.0");

    repo.write("services/api/app.txt", "api 2");
    repo.commit("fix(api): another app");
    let second = release(&repo, &["--branch", "develop", "--all"], &vars);
    assert_eq!(second.code, 0, "{}", second.transcript());
    let new = oci.inspect_index(&name, "stage-0.1.1");
    assert_eq!(tags_of(&oci, &name).len(), 2, "{:?}", tags_of(&oci, &name));
    for gone in std::iter::once(&old.0).chain(&old.1) {
        assert!(oci.try_manifest(&name, gone).is_none(), "{gone} is deleted");
    }
    for kept in std::iter::once(&new.0).chain(&new.1) {
        assert!(oci.try_manifest(&name, kept).is_some(), "{kept} stays");
    }
    let refused: Vec<String> = ecr::failures_for(&name);
    assert!(
        !refused.iter().any(|f| f == "ImageReferencedByManifestList"),
        "an index went before its children: {refused:?}"
    );
}

const ARM_TASK: &str = r#"{"family": "api", "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512", "networkMode": "awsvpc",
  "containerDefinitions": [{"name": "api", "image": "api:placeholder", "essential": true}]}"#;

/// A task definition on ARM64 against an image of linux/amd64 only: the release and `deploy` stop
/// before anything is built or registered (exit 2), naming the service, the file and the
/// platforms; the ECS double records no RegisterTaskDefinition.
#[test]
fn a_task_definition_on_an_architecture_the_image_lacks_stops_before_anything_is_registered() {
    use crate::support::ecs_double::{EcsDouble, Script};
    let prefix = unique("runtime-platform");
    let double = EcsDouble::start();
    double.service(
        "stage",
        "api",
        "api",
        "registry.example/placeholder:0",
        Script::SucceedAfter(1),
    );
    let repo = repo(
        &format!("oci://{}/{prefix}", registry()),
        "platforms = [\"linux/amd64\"]\n[environments.stage]\nbranch = \"develop\"\nclusters = [\"stage\"]\n",
        "task_definition = \"deploy/td.json\"\n",
    );
    repo.write("services/api/deploy/td.json", ARM_TASK);
    repo.commit("chore(api): the task definition");
    let vars = [
        ("AWS_ENDPOINT_URL_ECS", double.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let r = release(&repo, &["--branch", "develop", "--all"], &vars);
    assert_eq!(r.code, 2, "{}", r.transcript());
    for words in ["api", "services/api/deploy/td.json", "ARM64", "linux/amd64"] {
        assert!(r.stderr.contains(words), "{words}: {}", r.stderr);
    }
    assert!(
        Oci::new(&registry(), None)
            .tags(&format!("{prefix}/api"))
            .is_empty()
    );
    assert!(
        !double
            .calls()
            .contains(&"RegisterTaskDefinition".to_string())
    );

    // Released without the rollout (the task definition aside), then deployed: refused the same.
    let skipped = release(
        &repo,
        &["--branch", "develop", "--all", "--skip", "rollout"],
        &vars,
    );
    assert_eq!(skipped.code, 0, "{}", skipped.transcript());
    let mut cmd = shipit(&repo.dir);
    cmd.args([
        "deploy",
        "--env",
        "stage",
        "--service",
        "api",
        "--version",
        "0.1.0",
    ]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let d = run(cmd);
    assert_eq!(d.code, 2, "{}", d.transcript());
    for words in [
        "api",
        "services/api/deploy/td.json",
        "ARM64",
        "linux/amd64",
        "nothing was registered",
    ] {
        assert!(d.stderr.contains(words), "{words}: {}", d.stderr);
    }
    assert!(
        !double
            .calls()
            .contains(&"RegisterTaskDefinition".to_string())
    );
}

/// `shipit validate` refuses a platform that is not `os/arch[/variant]`, and one listed twice:
/// exit 2, each with its line and column.
#[test]
fn validate_points_at_a_bad_platform() {
    let repo = repo(
        "oci://registry.example",
        "platforms = [\"linux/amd64\", \"linux-arm64\", \"linux/amd64\"]\n",
        "",
    );
    let mut cmd = shipit(&repo.dir);
    cmd.arg("validate");
    let r = run(cmd);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stderr.contains("`linux-arm64` is not a platform"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("platform `linux/amd64` is listed twice"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ci.toml:3:"), "{}", r.stderr);
}
